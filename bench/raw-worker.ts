/**
 * One session of `bench:server`'s raw in-process loop, in a thread of its own: onnxruntime-node's
 * `run()` keeps its calling JavaScript thread busy, so sessions sharing one thread take turns. A
 * "session per core" limit must run each session on its own thread, as its best users run it.
 *
 * Protocol: workerData = RawWorkerData; the worker opens its session, warms up, posts 'ready', waits
 * for 'go', runs until the deadline and posts its RawWorkerResult.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { readModelDir } from '../server-template/src/model-dir.js';
import { textFeeds, textPipelineFor } from './text-pipeline.js';

export interface RawWorkerData {
  modelDir: string;
  texts: string[];
  /** Each batch: indexes into `texts`. */
  batches: number[][];
  /** The batch this session starts at (sessions spread over the corpus). */
  firstBatch: number;
  threads: number;
  seconds: number;
}

export interface RawWorkerResult {
  texts: number;
  latenciesMs: number[];
}

const data = workerData as RawWorkerData;
const files = await readModelDir(data.modelDir, undefined);
const session = await ort.InferenceSession.create(files.onnxPath, {
  intraOpNumThreads: data.threads,
  interOpNumThreads: 1,
  executionMode: 'sequential',
  graphOptimizationLevel: 'all',
});
const text = textPipelineFor(session.inputNames, files);
const runBatch = async (batch: number[]): Promise<void> => {
  // Tokenizing is part of the work a server does per request: encode every time, as it would.
  await session.run(
    textFeeds(
      text,
      batch.map((i) => data.texts[i] as string),
    ),
  );
};
await runBatch(data.batches[data.firstBatch] as number[]); // warm-up
const port = parentPort!;
port.postMessage('ready');
await new Promise((go) => port.once('message', go));
const latenciesMs: number[] = [];
let done = 0;
const start = performance.now();
for (let next = data.firstBatch; performance.now() - start < data.seconds * 1000; next++) {
  const batch = data.batches[next % data.batches.length] as number[];
  const t0 = performance.now();
  await runBatch(batch);
  latenciesMs.push(performance.now() - t0);
  done += batch.length;
}
await session.release();
port.postMessage({ texts: done, latenciesMs } satisfies RawWorkerResult);
