/**
 * A minimal Azure Resource Manager client over the global fetch: bearer token, api-version, JSON,
 * nextLink paging, retries on 408/429/5xx and connection failures (honouring Retry-After), and ARM's
 * error body `{"error":{"code","message"}}` surfaced as ArmRequestError for the caller to explain.
 * (The Azure ML management SDK would pull in a large generated client for five calls.)
 */
import { UserError } from '../errors.js';
import {
  RetryableError,
  isRetryableStatus,
  isTransientNetworkError,
  parseRetryAfter,
  withRetry,
  type RetryOptions,
} from '../util/retry.js';
import type { Logger } from '../util/log.js';

export const ARM_API_VERSION = '2024-04-01';

/** A non-retryable (or retries exhausted) ARM failure. */
export class ArmRequestError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly code: string,
    readonly armMessage: string,
  ) {
    super(`ARM ${method} ${path} failed: ${status} ${code}: ${armMessage}`);
    this.name = 'ArmRequestError';
  }
}

/** A retryable status; becomes an ArmRequestError when the retries are spent. */
class ArmTransientError extends RetryableError {
  constructor(
    readonly failure: ArmRequestError,
    retryAfterMs: number | undefined,
  ) {
    super(`ARM ${failure.method} ${failure.path} returned ${failure.status} ${failure.code}`, retryAfterMs);
  }
}

export interface ArmClientOptions {
  /** e.g. https://management.azure.com (no trailing slash needed). */
  endpoint: string;
  /** A bearer token for `{endpoint}/.default` (cached by the credential). */
  getToken: () => Promise<string>;
  logger: Logger;
  retry?: RetryOptions;
  fetch?: typeof fetch;
  apiVersion?: string;
  /** Per attempt. Default 60 s. */
  timeoutMs?: number;
}

export interface ArmClient {
  get<T>(path: string, query?: Record<string, string>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  /** Follows nextLink until `max` items (default 1000). */
  list<T>(path: string, query?: Record<string, string>, max?: number): Promise<T[]>;
}

function parseError(text: string): { code: string; message: string } {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error === 'object') {
      return {
        code: typeof body.error.code === 'string' ? body.error.code : 'Unknown',
        message: typeof body.error.message === 'string' ? body.error.message : '',
      };
    }
  } catch {
    // not JSON: fall through
  }
  return { code: 'Unknown', message: text.replace(/\s+/g, ' ').slice(0, 300) };
}

export function createArmClient(opts: ArmClientOptions): ArmClient {
  const endpoint = opts.endpoint.replace(/\/+$/, '');
  const apiVersion = opts.apiVersion ?? ARM_API_VERSION;
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 60_000;

  const request = async <T>(method: string, url: URL, body?: unknown): Promise<T> => {
    const shown = url.pathname;
    return withRetry(
      async () => {
        const token = await opts.getToken();
        let res: Response;
        try {
          res = await doFetch(url, {
            method,
            headers: {
              authorization: `Bearer ${token}`,
              accept: 'application/json',
              ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            },
            body: body === undefined ? (method === 'POST' ? '' : undefined) : JSON.stringify(body),
            signal: AbortSignal.timeout(timeoutMs),
          });
        } catch (e) {
          if (e instanceof Error && e.name === 'TimeoutError') {
            throw new RetryableError(`ARM ${method} ${shown} timed out after ${timeoutMs} ms`, undefined, {
              cause: e,
            });
          }
          throw e;
        }
        const text = await res.text();
        if (res.ok) return (text ? JSON.parse(text) : {}) as T;
        const { code, message } = parseError(text);
        const failure = new ArmRequestError(method, shown, res.status, code, message);
        if (isRetryableStatus(res.status)) {
          throw new ArmTransientError(failure, parseRetryAfter(res.headers.get('retry-after')));
        }
        throw failure;
      },
      {
        ...opts.retry,
        onRetry: (info) => {
          opts.logger.info(
            `${info.reason}; retrying in ${(info.delayMs / 1000).toFixed(1)}s (attempt ${info.attempt + 1}).`,
          );
          opts.retry?.onRetry?.(info);
        },
      },
    ).catch((e: unknown) => {
      // Retries spent on a retryable status: report it like any other ARM failure.
      if (e instanceof ArmTransientError) throw e.failure;
      if (isTransientNetworkError(e) || e instanceof RetryableError) {
        const cause = (e as { cause?: { message?: string } }).cause?.message;
        throw new UserError(
          `Cannot reach Azure Resource Manager at ${endpoint} (${method} ${shown}): ` +
            `${e instanceof Error ? e.message : String(e)}${cause ? ` (${cause})` : ''}.`,
          "Check azure-resource-manager-endpoint and the runner's network access, then re-run.",
          { cause: e },
        );
      }
      throw e;
    });
  };

  const urlFor = (path: string, query: Record<string, string> = {}): URL => {
    const url = new URL(endpoint + path);
    url.searchParams.set('api-version', apiVersion);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    return url;
  };

  return {
    get: (path, query) => request('GET', urlFor(path, query)),
    post: (path, body) => request('POST', urlFor(path), body),
    async list<T>(path: string, query?: Record<string, string>, max = 1000): Promise<T[]> {
      const items: T[] = [];
      let url: URL | undefined = urlFor(path, query);
      while (url && items.length < max) {
        const page: { value?: T[]; nextLink?: string } = await request('GET', url);
        items.push(...(page.value ?? []));
        // Follow nextLink only on the same ARM endpoint (it carries our bearer token).
        const next: URL | undefined = page.nextLink ? new URL(page.nextLink) : undefined;
        url = next && next.origin === new URL(endpoint).origin ? next : undefined;
      }
      return items.slice(0, max);
    },
  };
}
