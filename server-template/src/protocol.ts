/** Messages between the HTTP thread and the inference worker threads. */
import type { TensorSpec, WireTensor } from './tensors.js';

export interface WorkerInit {
  role: 'inference-worker';
  onnxPath: string;
  /** Intra-op threads of the one session. */
  sessionThreads: number;
}

export type ToWorker = { type: 'run'; id: number; feeds: Record<string, WireTensor> };

export type FromWorker =
  | { type: 'loaded'; inputs: TensorSpec[]; outputs: TensorSpec[]; loadSeconds: number }
  | { type: 'fatal'; message: string }
  | { type: 'result'; id: number; outputs: Record<string, WireTensor>; inferenceMs: number }
  | { type: 'failed'; id: number; message: string };
