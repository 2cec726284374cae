/**
 * The server's one onnxruntime-node session: how it is opened and how one batch runs on it. Shared by
 * the two places the session can live (an inference thread, worker.ts, or the HTTP thread, inline.ts),
 * so both run the model the same way.
 */
import { createRequire } from 'node:module';
import type { OrtType, TensorSpec, WireTensor } from './tensors.js';

export type Ort = typeof import('onnxruntime-node');
export type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

/** onnxruntime-node, loaded at run time from node_modules next to the bundle (it is external to it). */
export function loadOrt(): Ort {
  return createRequire(import.meta.url)('onnxruntime-node') as Ort;
}

/**
 * onnxruntime session config entries (SessionOptions.extra.session -> "session.<key>"). How the
 * session's intra-op threads wait for their next piece of work:
 * - `onThread` (the session on the inference thread): they sleep. The HTTP thread parses, tokenizes and
 *   answers while a batch runs, and spinning threads take the CPU it needs (measured on 2 cores, the
 *   encoder's c=1 p50 went from 12.4 to 23.0 ms with spinning, and 0.54-0.68x with spinning stopped
 *   after each run).
 * - `inline` (the session on the HTTP thread, see inline.ts): they spin during a run and stop when it
 *   ends (`force_spinning_stop`). The HTTP thread waits inside run() anyway, so the spinning takes
 *   nothing from it, and a sleeping thread would be woken for every parallel operator: in-process, the
 *   encoder's batch-1 p50 is 1.51 ms against 1.85 ms asleep. Nothing spins between runs.
 */
export type Spinning = 'onThread' | 'inline';
const SESSION_CONFIG: Record<Spinning, Record<string, string>> = {
  onThread: { 'intra_op.allow_spinning': '0' },
  inline: { 'intra_op.allow_spinning': '1', force_spinning_stop: '1' },
};

export function openSession(
  ort: Ort,
  onnxPath: string,
  threads: number,
  spinning: Spinning,
): Promise<Session> {
  return ort.InferenceSession.create(onnxPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // onnxruntime's CPU arena keeps the memory of the largest batch it ever ran (grown in powers of
    // two) for the life of the process. Measured in-process after one burst of 32 long texts: 229 MB
    // more on the benchmark encoder, and 1549 MB against 756 MB without the arena on a
    // RoBERTa-base-sized model. Without it, run buffers go back to the system allocator after each
    // run; batch-1 and batch-8 run times were the same within noise. __tests__/server/memory.test.ts
    // checks what the server keeps after such a burst.
    enableCpuMemArena: false,
    extra: { session: SESSION_CONFIG[spinning] },
  });
}

export function specsOf(meta: Session['inputMetadata']): TensorSpec[] {
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
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s+/g, ' ').trim().slice(0, 400);
}

/** Runs one batch; the outputs own their buffers (onnxruntime-node allocates them per run). */
export async function runSession(
  ort: Ort,
  session: Session,
  wire: Record<string, WireTensor>,
): Promise<{ outputs: Record<string, WireTensor>; inferenceMs: number }> {
  const feeds: Record<string, InstanceType<Ort['Tensor']>> = {};
  for (const [name, t] of Object.entries(wire)) {
    feeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  }
  const t0 = performance.now();
  const result = await session.run(feeds);
  const inferenceMs = performance.now() - t0;
  const outputs: Record<string, WireTensor> = {};
  for (const [name, value] of Object.entries(result)) {
    outputs[name] = { type: value.type as OrtType, dims: [...value.dims], data: value.data as Float32Array };
  }
  return { outputs, inferenceMs };
}
