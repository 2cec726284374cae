/**
 * Body of the inference thread: the server's one onnxruntime-node session (one copy of the weights),
 * one batch at a time. onnxruntime-node's run() occupies the calling JS thread, so it lives here, off
 * the HTTP thread; its intra-op threads spread each batch over the cores.
 */
import { createRequire } from 'node:module';
import type { MessagePort } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerInit } from './protocol.js';
import type { OrtType, TensorSpec, WireTensor } from './tensors.js';

type Ort = typeof import('onnxruntime-node');
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

function specsOf(meta: Session['inputMetadata']): TensorSpec[] {
  return meta.map((m) => {
    if (!m.isTensor) return { name: m.name, type: 'float32' as OrtType, shape: [], dimNames: [] };
    return {
      name: m.name,
      type: m.type as OrtType,
      shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
      dimNames: m.shape.map((d) => (typeof d === 'string' ? d : '')),
    };
  });
}

/** Shortens onnxruntime's messages (which can embed long paths and stack-like detail) to one line. */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim().slice(0, 400);
}

/**
 * onnxruntime session config entries (SessionOptions.extra.session -> "session.<key>"). Idle intra-op
 * threads spin for work by default: measured on 2 cores, that spinning takes the CPU the HTTP thread
 * needs to parse, tokenize and answer, so they sleep instead (see bench/results/server.json).
 */
const SESSION_CONFIG: Record<string, string> = {
  'intra_op.allow_spinning': '0',
};

export async function runInferenceWorker(init: WorkerInit, port: MessagePort): Promise<void> {
  const post = (msg: FromWorker): void => port.postMessage(msg);
  // Loaded at run time from node_modules next to the bundle (it is external to it), only in workers.
  const ort = createRequire(import.meta.url)('onnxruntime-node') as Ort;
  let session: Session;
  const started = performance.now();
  try {
    session = await ort.InferenceSession.create(init.onnxPath, {
      intraOpNumThreads: init.sessionThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      extra: { session: SESSION_CONFIG },
    });
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
        const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
        for (const [name, t] of Object.entries(msg.feeds)) {
          feeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
        }
        const t0 = performance.now();
        const result = await session.run(feeds);
        const inferenceMs = performance.now() - t0;
        const outputs: Record<string, WireTensor> = {};
        for (const [name, value] of Object.entries(result)) {
          outputs[name] = {
            type: value.type as OrtType,
            dims: [...value.dims],
            data: value.data as Float32Array,
          };
        }
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
