/**
 * Retries with exponential backoff, full jitter and `Retry-After`, bounded in attempts and total time.
 * Shared by the Azure (ARM, token, blob) and OCI registry clients.
 */

export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts?: number;
  /** First backoff in ms; doubles each retry. */
  baseDelayMs?: number;
  /** Cap for one wait. */
  maxDelayMs?: number;
  /** Give up when the next wait would end past this many ms since the first attempt. */
  totalBudgetMs?: number;
  /** Called before each wait, for a log line. */
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Thrown (or returned as the rejection) by an attempt that may be retried. */
export class RetryableError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** HTTP statuses worth retrying: timeouts, throttling and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status <= 599 && status !== 501);
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** True for connection resets and similar transport failures (fetch wraps them in `cause`). */
export function isTransientNetworkError(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && RETRYABLE_CODES.has(code)) return true;
    if (cur instanceof TypeError && cur.message === 'fetch failed') return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Parses a `Retry-After` header (delta-seconds or an HTTP date) into ms; undefined when absent/invalid.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it resolves, or throws something not retryable, or the budget is spent.
 * Retryable: RetryableError and transient network errors.
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 6;
  const base = options.baseDelayMs ?? 500;
  const maxDelay = options.maxDelayMs ?? 30_000;
  const budget = options.totalBudgetMs ?? 120_000;
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const started = Date.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (e) {
      const retryable = e instanceof RetryableError || isTransientNetworkError(e);
      if (!retryable || n >= attempts) throw e;
      const backoff = Math.min(maxDelay, base * 2 ** (n - 1)) * random();
      const hinted = e instanceof RetryableError ? e.retryAfterMs : undefined;
      const delayMs = Math.round(hinted !== undefined ? Math.min(hinted, maxDelay) : backoff);
      if (Date.now() - started + delayMs > budget) throw e;
      options.onRetry?.({ attempt: n, delayMs, reason: e instanceof Error ? e.message : String(e) });
      await sleep(delayMs);
    }
  }
}
