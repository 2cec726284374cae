/**
 * What the packaged server is told, the same in the smoke-test process and in the image: the user's
 * `server-env`, the model's name, version and file, and the defaults this action chooses.
 */
import type { Model } from './model-source/index.js';

/**
 * onnxruntime 1.30 uploads telemetry over HTTPS unless told not to; a packaged model server must not
 * phone home from users' clusters. `server-env: ORT_DISABLE_TELEMETRY=0` turns it back on.
 */
const RUNTIME_DEFAULTS = { ORT_DISABLE_TELEMETRY: '1' };

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
