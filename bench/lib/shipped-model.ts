/**
 * The model folder as the pipeline ships it (src/model-layout.ts: the weights in `model.onnx.data`),
 * prepared in `dest` with the host's staged runtime, for benches that load the shipped model directly.
 */
import { cp, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { externalizeWeights } from '../../src/model-layout.js';
import { hostPlatform, stageRuntime } from '../../src/runtime/index.js';
import { silentLogger } from '../../src/util/log.js';

export async function shippedModel(
  modelDir: string,
  dest: string,
): Promise<{ dir: string; onnxPath: string; files: string[] }> {
  await cp(modelDir, dest, { recursive: true });
  const runtimeDir = (
    await stageRuntime(hostPlatform(), { logger: silentLogger, cacheDir: join(dest, '..', 'layout-runtime') })
  ).dir;
  const outcome = await externalizeWeights({
    runtimeDir,
    dir: dest,
    modelFile: 'model.onnx',
    logger: silentLogger,
  });
  if (!outcome.changed) throw new Error(`the layout stage left ${modelDir} as it is: ${outcome.reason}`);
  const files = (await readdir(dest)).filter((f) => f.startsWith('model.onnx')).sort();
  return { dir: dest, onnxPath: join(dest, 'model.onnx'), files };
}
