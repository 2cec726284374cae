/**
 * Entry point of the bundle (`node index.js`). The same file is the HTTP process and, started again
 * with `workerData`, each inference worker thread, so a single ncc bundle carries both.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { WorkerInit } from './protocol.js';
import { startServer } from './server.js';
import { runInferenceWorker } from './worker.js';

const init = workerData as WorkerInit | undefined;
if (!isMainThread && init?.role === 'inference-worker' && parentPort) {
  await runInferenceWorker(init, parentPort);
} else if (isMainThread) {
  await startServer(new URL(import.meta.url));
}
