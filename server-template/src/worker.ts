/**
 * Body of the inference thread: the server's one onnxruntime-node session (one copy of the weights),
 * one batch at a time. onnxruntime-node's run() occupies the calling JS thread, so it lives here, off
 * the HTTP thread; its intra-op threads spread each batch over the cores.
 */
import type { MessagePort } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import { loadOrt, oneLine, openSession, runSession, type Session, specsOf } from './session.js';

export async function runInferenceWorker(init: WorkerInit, port: MessagePort): Promise<void> {
  const post = (msg: FromWorker): void => port.postMessage(msg);
  const ort = loadOrt();
  let session: Session;
  const started = performance.now();
  try {
    session = await openSession(ort, init.onnxPath, init.sessionThreads, 'onThread');
  } catch (err) {
    post({ type: 'fatal', message: oneLine(err) });
    return;
  }
  post({
    type: 'loaded',
    inputs: specsOf(session.inputMetadata),
    outputs: specsOf(session.outputMetadata),
    loadSeconds: (performance.now() - started) / 1000,
  });

  port.on('message', (msg: ToWorker) => {
    void (async () => {
      try {
        const { outputs, inferenceMs } = await runSession(ort, session, msg.feeds);
        // Hand the output buffers over instead of copying them (this thread never reads them again).
        const buffers = Object.values(outputs).flatMap((t) =>
          ArrayBuffer.isView(t.data) && t.data.buffer instanceof ArrayBuffer ? [t.data.buffer] : [],
        );
        port.postMessage({ type: 'result', id: msg.id, outputs, inferenceMs } satisfies FromWorker, [
          ...new Set(buffers),
        ]);
      } catch (err) {
        post({ type: 'failed', id: msg.id, message: oneLine(err) });
      }
    })();
  });
}
