/**
 * What the packaged server is told, the same in the smoke-test process and in the image: the user's
 * `server-env`, the model's name, version and file, and the defaults this action chooses.
 */
import type { Model } from './model-source/index.js';

/**
 * The runtime settings the image starts the server with (`server-env` can override each):
 * - `ORT_DISABLE_TELEMETRY=1`: onnxruntime 1.30 uploads telemetry over HTTPS unless told not to; a
 *   packaged model server must not phone home from users' clusters.
 * - `MALLOC_ARENA_MAX=2`: glibc's malloc gives threads that allocate at once arenas of their own (up to
 *   8 per core) and keeps what is freed in them. The server's threads (the inference thread that loads
 *   the model first, onnxruntime's intra-op threads) left the benchmark encoder's server at 237-239 MB
 *   after load against 226-230 MB with two arenas, throughput unchanged (bench:server variants). Two
 *   rather than one: the HTTP thread keeps the main arena to itself, so it never waits on the inference
 *   thread's allocations (one arena measured 213 MB). musl-based bases ignore it.
 */
export const RUNTIME_DEFAULTS: Readonly<Record<string, string>> = {
  ORT_DISABLE_TELEMETRY: '1',
  MALLOC_ARENA_MAX: '2',
};

/** The image's environment: the defaults, then `server-env`, then the model's names (never overridden). */
export function serverEnv(model: Model, userEnv: Record<string, string>): Record<string, string> {
  return {
    ...RUNTIME_DEFAULTS,
    ...userEnv,
    MODEL_NAME: model.name,
    MODEL_VERSION: model.version,
    MODEL_FILE: model.modelFile,
  };
}

/**
 * The smoke-test process's environment: the image's, on one worker unless `server-env` says otherwise
 * (the smoke test sends one request at a time; more workers would only load the model more times).
 */
export function smokeTestProcessEnv(model: Model, userEnv: Record<string, string>): Record<string, string> {
  return { WORKERS: '1', ...serverEnv(model, userEnv) };
}
