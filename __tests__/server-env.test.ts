/** What the packaged server is told: the same settings in the smoke-test process and in the image. */
import { describe, expect, it } from '@jest/globals';
import type { Model } from '../src/model-source/index.js';
import { serverEnv, smokeTestProcessEnv } from '../src/server-env.js';

const model = { name: 'sentiment', version: '3', modelFile: 'model.onnx' } as Model;

describe('serverEnv', () => {
  it("turns onnxruntime's telemetry off unless server-env turns it on", () => {
    expect(serverEnv(model, {}).ORT_DISABLE_TELEMETRY).toBe('1');
    expect(serverEnv(model, { ORT_DISABLE_TELEMETRY: '0' }).ORT_DISABLE_TELEMETRY).toBe('0');
  });

  it("limits glibc's malloc to two arenas unless server-env says otherwise", () => {
    expect(serverEnv(model, {}).MALLOC_ARENA_MAX).toBe('2');
    expect(serverEnv(model, { MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX).toBe('8');
  });

  it('names the model; server-env cannot rename it', () => {
    expect(serverEnv(model, { MODEL_NAME: 'other', PORT: '9000' })).toEqual({
      ORT_DISABLE_TELEMETRY: '1',
      MALLOC_ARENA_MAX: '2',
      PORT: '9000',
      MODEL_NAME: 'sentiment',
      MODEL_VERSION: '3',
      MODEL_FILE: 'model.onnx',
    });
  });

  it('the smoke-test process runs one worker unless server-env sets WORKERS; the image keeps the default', () => {
    expect(smokeTestProcessEnv(model, {}).WORKERS).toBe('1');
    expect(smokeTestProcessEnv(model, { WORKERS: '4' }).WORKERS).toBe('4');
    expect(serverEnv(model, {}).WORKERS).toBeUndefined();
  });
});
