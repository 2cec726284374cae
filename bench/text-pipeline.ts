/**
 * The server's own text pipeline over an ONNX session's integer inputs, for the benchmark baselines
 * that tokenize and run in-process (the raw loop and the naive server).
 */
import * as ort from 'onnxruntime-node';
import { readModelDir } from '../server-template/src/model-dir.js';
import type { TensorSpec } from '../server-template/src/tensors.js';
import { planTextFeeds, TextPipeline } from '../server-template/src/text.js';

export function textPipelineFor(
  inputNames: readonly string[],
  files: Awaited<ReturnType<typeof readModelDir>>,
): TextPipeline {
  const specs: TensorSpec[] = inputNames.map((name) => ({
    name,
    type: 'int64',
    shape: [-1, -1],
    dimNames: ['batch', 'sequence'],
  }));
  return new TextPipeline(files, planTextFeeds(specs, files.onnxPath), undefined);
}

/** Tokenizes `texts` as the server does, into onnxruntime's int64 feeds. */
export function textFeeds(text: TextPipeline, texts: string[]): Record<string, ort.Tensor> {
  const feeds = text.feeds(texts.map((t) => text.encode(t)));
  return Object.fromEntries(
    Object.entries(feeds).map(([n, t]) => [n, new ort.Tensor('int64', t.data as BigInt64Array, t.dims)]),
  );
}
