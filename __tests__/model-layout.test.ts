/**
 * The packaging-time layout stage (src/model-layout.ts) on real onnxruntime-node and a real generated
 * transformer: the shipped model answers exactly as the original, other layouts are left alone, and a
 * model onnxruntime cannot rewrite fails with the fix.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { benchTransformer } from './fixtures/models.js';
import { DataType, GraphBuilder, floatTensor } from '../scripts/models/onnx.js';
import { externalizeWeights, usesExternalData } from '../src/model-layout.js';
import { hostPlatform, stageRuntime } from '../src/runtime/index.js';
import { silentLogger } from '../src/util/log.js';
import { readModelDir } from '../server-template/src/model-dir.js';
import { textPipelineFor } from '../bench/text-pipeline.js';

let root: string;
let runtimeDir: string;
let original: string;
/** The staged runtime's onnxruntime-node: the one the stage loads (one native binding per process). */
let ort: typeof import('onnxruntime-node');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'pom-layout-'));
  runtimeDir = (await stageRuntime(hostPlatform(), { logger: silentLogger, cacheDir: join(root, 'cache') }))
    .dir;
  ort = createRequire(join(runtimeDir, 'index.js'))('onnxruntime-node') as typeof ort;
  original = await benchTransformer({ layers: 2, hidden: 64, heads: 2, seed: 7 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const copyModel = async (name: string): Promise<string> => {
  const dir = join(root, name);
  await cp(original, dir, { recursive: true });
  return dir;
};

/** Logits of the model in `dir` for real sentences, tokenized as the server does, batched with padding. */
async function logits(dir: string, texts: string[]): Promise<Float32Array> {
  const files = await readModelDir(dir, undefined);
  const session = await ort.InferenceSession.create(files.onnxPath, { graphOptimizationLevel: 'all' });
  try {
    const text = textPipelineFor(session.inputNames, files);
    const feeds = text.feeds(texts.map((t) => text.encode(t)));
    const tensors = Object.fromEntries(
      Object.entries(feeds).map(([n, t]) => [n, new ort.Tensor('int64', t.data as BigInt64Array, t.dims)]),
    );
    const out = await session.run(tensors);
    return out['logits']?.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('externalizeWeights', () => {
  it('ships the model with its weights in model.onnx.data, answering as the original within 1e-5', async () => {
    const dir = await copyModel('shipped');
    const before = (await stat(join(dir, 'model.onnx'))).size;
    const outcome = await externalizeWeights({
      runtimeDir,
      dir,
      modelFile: 'model.onnx',
      logger: silentLogger,
    });
    expect(outcome).toEqual({ changed: true, modelFile: 'model.onnx', weightsFile: 'model.onnx.data' });
    // The graph stays in model.onnx; the weights (nearly all the bytes) are in the data file.
    expect((await stat(join(dir, 'model.onnx'))).size).toBeLessThan(before / 10);
    expect((await stat(join(dir, 'model.onnx.data'))).size).toBeGreaterThan(before * 0.9);
    expect(await usesExternalData(join(dir, 'model.onnx'))).toBe(true);
    expect(await usesExternalData(join(original, 'model.onnx'))).toBe(false);
    // No temporary files are left in the folder that becomes the image's model layer.
    expect((await readdir(dir)).sort()).toEqual([...(await readdir(original)), 'model.onnx.data'].sort());

    const texts = [
      'the service was quick and friendly',
      'I really love how this product handles updates yet the battery life is terrible after a month of use',
      'cold food',
      'MLOps is critical for robustness',
    ];
    const want = await logits(original, texts);
    const got = await logits(dir, texts);
    expect(got.length).toBe(want.length);
    expect(want.length).toBe(texts.length * 2);
    for (let i = 0; i < want.length; i++)
      expect(Math.abs((got[i] as number) - (want[i] as number))).toBeLessThanOrEqual(1e-5);
  });

  it('leaves a model whose weights are already external as it is', async () => {
    const dir = await copyModel('again');
    await externalizeWeights({ runtimeDir, dir, modelFile: 'model.onnx', logger: silentLogger });
    const graph = (await stat(join(dir, 'model.onnx'))).mtimeMs;
    const again = await externalizeWeights({
      runtimeDir,
      dir,
      modelFile: 'model.onnx',
      logger: silentLogger,
    });
    expect(again).toEqual({ changed: false, reason: expect.stringMatching(/already/) as unknown });
    expect((await stat(join(dir, 'model.onnx'))).mtimeMs).toBe(graph);
  });

  it('fails with the fix when onnxruntime cannot load the model to rewrite it', async () => {
    const dir = join(root, 'unknown-op');
    const g = new GraphBuilder();
    const x = g.input('x', DataType.FLOAT, ['batch', 512]);
    const w = g.init(
      'w',
      floatTensor(
        [512],
        Array.from({ length: 512 }, (_, i) => i),
      ),
    );
    g.output(g.op('NoSuchOperator', [x, w]), 'y', DataType.FLOAT, ['batch', 512]);
    await cp(original, dir, { recursive: true });
    await writeFile(join(dir, 'model.onnx'), g.toBytes({ graphName: 'bad', doc: 'unknown operator' }));
    const err = await externalizeWeights({
      runtimeDir,
      dir,
      modelFile: 'model.onnx',
      logger: silentLogger,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(String(err)).toMatch(
      /^Moving the weights of model\.onnx into model\.onnx\.data failed: onnxruntime: .*NoSuchOperator.* Fix: Set the input 'external-weights: false'/,
    );
    // Nothing half-written is left behind.
    expect((await readdir(dir)).sort()).toEqual((await readdir(original)).sort());
  });
});
