/**
 * Server settings, read only from environment variables. `parseConfig` is pure (env and core count
 * injected) so every rule is testable; a bad value throws a ConfigError whose message names the variable,
 * the value and the fix, printed as the single startup error line.
 */

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface Config {
  modelDir: string;
  /** A file name inside modelDir, or an absolute path; undefined = the single *.onnx in modelDir. */
  modelFile: string | undefined;
  /** undefined = config.json `name_or_path`'s last part, else the model dir's name. */
  modelName: string | undefined;
  modelVersion: string;
  port: number;
  host: string;
  /**
   * ONNX Runtime intra-op threads of the server's one session (WORKERS x INTRA_OP_THREADS: the CPU
   * budget those settings gave when each worker had a session of its own).
   */
  sessionThreads: number;
  /** A model whose one-text run takes at most this (ms, measured at start) runs on the HTTP thread. */
  inlineInferenceMs: number;
  maxBatchSize: number;
  maxBatchDelayMs: number;
  maxPaddingFraction: number;
  /** MAX_BATCH_PADDING is unset: a batch may also pad up to the run's fixed cost where it can be measured. */
  paddingFromCost: boolean;
  maxQueue: number;
  requestTimeoutMs: number;
  /** Most time to receive a whole request (headers and body); 0 = no limit. */
  httpRequestTimeoutMs: number;
  /** Most time to receive a request's headers. */
  httpHeadersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed; 0 = never. */
  idleTimeoutMs: number;
  /** Most open connections; further ones are closed as they arrive. */
  maxConnections: number;
  /** Largest body on text routes (/predict, /tei/predict, ...). */
  maxBodyBytes: number;
  /** Largest body on tensor routes (v2 infer, KServe v1 predict). */
  maxTensorBodyBytes: number;
  /** Most bytes of request bodies held at once (received, not yet answered). */
  maxQueuedBytes: number;
  maxTexts: number;
  /** undefined = from tokenizer_config.json model_max_length / config.json, capped at 512 otherwise. */
  maxSequenceLength: number | undefined;
  shutdownTimeoutMs: number;
  retryAfterSeconds: number;
  logLevel: LogLevel;
}

/** One documented setting: used for parsing, for the README table and for `GET /`. */
export interface Setting {
  env: string;
  default: string;
  description: string;
}

export const SETTINGS: readonly Setting[] = [
  { env: 'MODEL_DIR', default: '/app/model', description: 'Directory holding the model files.' },
  {
    env: 'MODEL_FILE',
    default: '(the single *.onnx in MODEL_DIR)',
    description: 'ONNX file name inside MODEL_DIR (or an absolute path).',
  },
  {
    env: 'MODEL_NAME',
    default: '(config.json _name_or_path, else the directory name)',
    description: 'Name used in URLs and replies.',
  },
  { env: 'MODEL_VERSION', default: '1', description: 'Version reported by the v2 protocol.' },
  { env: 'PORT', default: '8080', description: 'TCP port.' },
  { env: 'HOST', default: '0.0.0.0', description: 'Listen address (`::` for IPv6).' },
  {
    env: 'INTRA_OP_THREADS',
    default: '(cores / WORKERS, at least 1)',
    description:
      'CPU threads per WORKERS share of the one ONNX Runtime session: the session runs WORKERS x INTRA_OP_THREADS intra-op threads (default: all cores).',
  },
  {
    env: 'WORKERS',
    default: '1',
    description:
      'Kept for compatibility: the server holds one ONNX Runtime session (one copy of the weights) whatever its value; it only multiplies INTRA_OP_THREADS.',
  },
  {
    env: 'INLINE_INFERENCE_MS',
    default: '5',
    description:
      'A model whose one-text run takes at most this many milliseconds (timed at start) runs on the HTTP thread, as a hand-written server would: the session already spreads each run over every core, so the hop to an inference thread and back (two thread wake-ups) only adds latency. Slower models run on the inference thread, so that a long batch never holds up health checks, metrics and timeouts. 0 = always the inference thread.',
  },
  { env: 'MAX_BATCH_SIZE', default: '32', description: 'Most rows (texts) run in one inference call.' },
  {
    env: 'MAX_BATCH_DELAY_MS',
    default: '2',
    description:
      'How long a batch may wait for more rows while another batch is running (with the one inference thread, rows gather while a batch runs and go as soon as it ends).',
  },
  {
    env: 'MAX_BATCH_PADDING',
    default: '0.2',
    description:
      "Largest fraction of a text batch that may be padding; texts of very different lengths run in separate batches. Unset: 0.2, and a model that runs on the HTTP thread may also pad up to a budget timed at start, as many padded tokens per batch as one run's fixed cost (a model whose runs cost the same whatever the lengths pads freely).",
  },
  {
    env: 'MAX_QUEUE',
    default: '1024',
    description: 'Most rows waiting for a worker; beyond it requests get 503 with Retry-After.',
  },
  {
    env: 'REQUEST_TIMEOUT_MS',
    default: '30000',
    description: 'A prediction not answered in this time gets 503.',
  },
  {
    env: 'HTTP_REQUEST_TIMEOUT_MS',
    default: '30000',
    description:
      'Most time to receive a whole request (headers and body); a slower client gets 408 and its connection closed. 0 = no limit.',
  },
  {
    env: 'HTTP_HEADERS_TIMEOUT_MS',
    default: '10000',
    description:
      'Most time to receive the request headers (at most HTTP_REQUEST_TIMEOUT_MS); slower gets 408.',
  },
  {
    env: 'HTTP_KEEP_ALIVE_TIMEOUT_MS',
    default: '72000',
    description:
      'How long an idle keep-alive connection stays open (above the 60 s idle timeout of common load balancers).',
  },
  {
    env: 'HTTP_IDLE_TIMEOUT_MS',
    default: '120000',
    description:
      'A connection with no traffic either way for this long is closed (above REQUEST_TIMEOUT_MS). 0 = never.',
  },
  {
    env: 'MAX_CONNECTIONS',
    default: '1024',
    description: 'Most open connections; further ones are closed at once until one ends.',
  },
  {
    env: 'MAX_BODY_BYTES',
    default: '1048576',
    description: 'Largest request body on text routes (`/predict`, `/tei/predict`); larger gets 413.',
  },
  {
    env: 'MAX_TENSOR_BODY_BYTES',
    default: '67108864',
    description:
      'Largest request body on tensor routes (`/v2/models/.../infer`, `/v1/models/...:predict`); larger gets 413. Binary tensor data needs about a third of the JSON size.',
  },
  {
    env: 'MAX_QUEUED_BYTES',
    default: '268435456',
    description:
      'Most bytes of request bodies held at once (received and not yet answered); beyond it requests get 503 with Retry-After. At least MAX_TENSOR_BODY_BYTES and MAX_BODY_BYTES.',
  },
  {
    env: 'MAX_TEXTS',
    default: '256',
    description: 'Most texts (or tensor rows) per request; more gets 413.',
  },
  {
    env: 'MAX_SEQUENCE_LENGTH',
    default: '(tokenizer_config.json model_max_length, else 512)',
    description: 'Tokens per text after truncation (special tokens kept).',
  },
  {
    env: 'SHUTDOWN_TIMEOUT_MS',
    default: '10000',
    description: 'On SIGTERM/SIGINT, how long in-flight work may take before the process exits anyway.',
  },
  { env: 'RETRY_AFTER_SECONDS', default: '1', description: 'Retry-After value sent with 503 replies.' },
  {
    env: 'LOG_LEVEL',
    default: 'info',
    description: 'fatal, error, warn, info, debug, trace or silent (JSON lines on stdout).',
  },
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function intSetting(env: Env, name: string, def: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const text = raw.trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is invalid; fix: set ${name} to an integer ${range}`,
    );
  }
  return Number(text);
}

function fractionSetting(env: Env, name: string, def: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const value = Number(raw.trim());
  if (!/^(0|1|0?\.\d+|1\.0*)$/.test(raw.trim()) || value < 0 || value > 1) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is invalid; fix: set ${name} to a number from 0 to 1`,
    );
  }
  return value;
}

function optionalInt(env: Env, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  return intSetting(env, name, 0, min);
}

function stringSetting(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
}

/** Parses and validates every setting. `cores` is the number of CPUs the process may use. */
export function parseConfig(env: Env, cores: number): Config {
  const explicitWorkers = optionalInt(env, 'WORKERS', 1);
  const explicitThreads = optionalInt(env, 'INTRA_OP_THREADS', 1);
  // One session serves every batch (one copy of the weights); the old per-worker split of the cores
  // (WORKERS sessions x INTRA_OP_THREADS threads) becomes that session's thread count.
  const workers = explicitWorkers ?? 1;
  const sessionThreads = workers * (explicitThreads ?? Math.max(1, Math.floor(cores / workers)));

  const logLevel = (stringSetting(env, 'LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevel as LogLevel)) {
    throw new ConfigError(
      `LOG_LEVEL=${JSON.stringify(env.LOG_LEVEL)} is invalid; fix: use one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  const modelName = stringSetting(env, 'MODEL_NAME');
  if (modelName !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(modelName)) {
    throw new ConfigError(
      `MODEL_NAME=${JSON.stringify(modelName)} is invalid; fix: use letters, digits, '.', '_' or '-' (it appears in URLs)`,
    );
  }
  const modelVersion = stringSetting(env, 'MODEL_VERSION') ?? '1';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(modelVersion)) {
    throw new ConfigError(
      `MODEL_VERSION=${JSON.stringify(modelVersion)} is invalid; fix: use letters, digits, '.', '_' or '-'`,
    );
  }

  const requestTimeoutMs = intSetting(env, 'REQUEST_TIMEOUT_MS', 30_000, 1);
  const httpRequestTimeoutMs = intSetting(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 0);
  const httpHeadersTimeoutMs = intSetting(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 1);
  // Node refuses a headers timeout above the request timeout.
  if (httpRequestTimeoutMs > 0 && httpHeadersTimeoutMs > httpRequestTimeoutMs) {
    throw new ConfigError(
      `HTTP_HEADERS_TIMEOUT_MS=${httpHeadersTimeoutMs} exceeds HTTP_REQUEST_TIMEOUT_MS=${httpRequestTimeoutMs}; fix: set HTTP_HEADERS_TIMEOUT_MS to at most HTTP_REQUEST_TIMEOUT_MS`,
    );
  }
  const idleTimeoutMs = intSetting(env, 'HTTP_IDLE_TIMEOUT_MS', 120_000, 0);
  // A prediction may keep its connection silent for up to REQUEST_TIMEOUT_MS: a shorter idle timeout
  // would cut answers that are still on time.
  if (idleTimeoutMs > 0 && idleTimeoutMs <= requestTimeoutMs) {
    throw new ConfigError(
      `HTTP_IDLE_TIMEOUT_MS=${idleTimeoutMs} is not above REQUEST_TIMEOUT_MS=${requestTimeoutMs}, so connections waiting for a prediction would be cut; fix: set HTTP_IDLE_TIMEOUT_MS above REQUEST_TIMEOUT_MS (or 0)`,
    );
  }

  const maxBodyBytes = intSetting(env, 'MAX_BODY_BYTES', 1024 * 1024, 2);
  const maxTensorBodyBytes = intSetting(env, 'MAX_TENSOR_BODY_BYTES', 64 * 1024 * 1024, 2);
  const maxQueuedBytes = intSetting(env, 'MAX_QUEUED_BYTES', 256 * 1024 * 1024, 2);
  // One request of the largest allowed size must fit, or it could never be answered.
  const largest = Math.max(maxBodyBytes, maxTensorBodyBytes);
  if (maxQueuedBytes < largest) {
    const which = largest === maxTensorBodyBytes ? 'MAX_TENSOR_BODY_BYTES' : 'MAX_BODY_BYTES';
    throw new ConfigError(
      `MAX_QUEUED_BYTES=${maxQueuedBytes} is below ${which}=${largest}, so a request of the allowed size could never be accepted; fix: set MAX_QUEUED_BYTES to at least ${largest}`,
    );
  }

  return {
    modelDir: stringSetting(env, 'MODEL_DIR') ?? '/app/model',
    modelFile: stringSetting(env, 'MODEL_FILE'),
    modelName,
    modelVersion,
    port: intSetting(env, 'PORT', 8080, 0, 65535),
    host: stringSetting(env, 'HOST') ?? '0.0.0.0',
    sessionThreads,
    inlineInferenceMs: intSetting(env, 'INLINE_INFERENCE_MS', 5, 0, 60_000),
    maxBatchSize: intSetting(env, 'MAX_BATCH_SIZE', 32, 1, 4096),
    maxBatchDelayMs: intSetting(env, 'MAX_BATCH_DELAY_MS', 2, 0, 60_000),
    maxPaddingFraction: fractionSetting(env, 'MAX_BATCH_PADDING', 0.2),
    paddingFromCost: (env.MAX_BATCH_PADDING ?? '').trim() === '',
    maxQueue: intSetting(env, 'MAX_QUEUE', 1024, 1),
    requestTimeoutMs,
    httpRequestTimeoutMs,
    httpHeadersTimeoutMs,
    keepAliveTimeoutMs: intSetting(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 1),
    idleTimeoutMs,
    maxConnections: intSetting(env, 'MAX_CONNECTIONS', 1024, 1),
    maxBodyBytes,
    maxTensorBodyBytes,
    maxQueuedBytes,
    maxTexts: intSetting(env, 'MAX_TEXTS', 256, 1),
    maxSequenceLength: optionalInt(env, 'MAX_SEQUENCE_LENGTH', 2),
    shutdownTimeoutMs: intSetting(env, 'SHUTDOWN_TIMEOUT_MS', 10_000, 0),
    retryAfterSeconds: intSetting(env, 'RETRY_AFTER_SECONDS', 1, 0),
    logLevel: logLevel as LogLevel,
  };
}
