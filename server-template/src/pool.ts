/**
 * Pool of inference worker threads, each holding its own ONNX Runtime session. Hands a batch to an
 * idle worker, reports results, and replaces a worker that dies (its in-flight batch fails; the new
 * worker loads and warms up before it takes work). Worker creation is injected so tests can use
 * misbehaving workers.
 */
import { StartupError } from './model-dir.js';
import type { FromWorker, ToWorker } from './protocol.js';
import type { TensorSpec, WireTensor } from './tensors.js';

export interface WorkerHandle {
  postMessage(msg: ToWorker, transfer?: ArrayBuffer[]): void;
  on(event: 'message', fn: (msg: FromWorker) => void): unknown;
  on(event: 'error', fn: (err: Error) => void): unknown;
  on(event: 'exit', fn: (code: number) => void): unknown;
  terminate(): Promise<number>;
}

export interface PoolLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface PoolOptions {
  size: number;
  spawn(): WorkerHandle;
  log: PoolLog;
  /** A worker became free for work. */
  onFree(): void;
  /** A worker died and is being replaced. */
  onRestart?(): void;
  /** First delay before re-spawning after a replacement failed to load (doubles, max 30 s). */
  restartDelayMs?: number;
  /** The path named in load errors. */
  onnxPath: string;
}

export interface LoadedModel {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  loadSeconds: number;
}

export interface RunResult {
  outputs: Record<string, WireTensor>;
  inferenceMs: number;
}

/** Where batches run: the inference thread (WorkerPool) or the HTTP thread (InlineRunner). */
export interface InferenceRunner {
  /** Batches that may start now (0 or 1: one session runs one batch at a time). */
  idle(): number;
  busy(): number;
  /** Sessions able to serve (0 while a dead inference thread is being replaced). */
  serving(): number;
  /** Runs a batch (the caller checked idle() > 0). */
  run(feeds: Record<string, WireTensor>): Promise<RunResult>;
  close(): Promise<void>;
}

/** An inference failed inside ONNX Runtime (bad input values, shape mismatch inside the graph...). */
export class InferenceError extends Error {
  override name = 'InferenceError';
}

type State = 'loading' | 'warming' | 'idle' | 'busy' | 'dead';

interface Job {
  id: number;
  resolve(r: RunResult): void;
  reject(err: Error): void;
}

interface Slot {
  worker: WorkerHandle;
  state: State;
  job: Job | undefined;
  closing: boolean;
  /** The last uncaught error of the worker thread, for the startup error line. */
  lastError: string | undefined;
}

export class WorkerPool implements InferenceRunner {
  private slots: Slot[] = [];
  private nextId = 1;
  private warmupFeeds: Record<string, WireTensor> | undefined;
  private closed = false;
  private restartDelay: number;
  private loaded: ((m: LoadedModel) => void) | undefined;
  private failedToLoad: ((err: Error) => void) | undefined;
  private model: LoadedModel | undefined;

  constructor(private readonly opts: PoolOptions) {
    this.restartDelay = opts.restartDelayMs ?? 1000;
  }

  /** Replaces the logger (the HTTP logger exists only once the model has loaded). */
  setLog(log: PoolLog): void {
    this.opts.log = log;
  }

  /** Spawns every worker; resolves with the model's metadata once all have loaded it. */
  start(): Promise<LoadedModel> {
    return new Promise((resolve, reject) => {
      let pending = this.opts.size;
      this.loaded = (m) => {
        this.model ??= m;
        if (--pending === 0) resolve(this.model);
      };
      this.failedToLoad = reject;
      for (let i = 0; i < this.opts.size; i++) this.spawnSlot();
    });
  }

  /** Runs one inference on every worker (startup is not ready before this); later replacements too. */
  async warmup(feeds: Record<string, WireTensor>): Promise<RunResult> {
    this.warmupFeeds = feeds;
    const results = await Promise.all(
      this.slots.map(async (slot) => {
        slot.state = 'warming';
        let result: RunResult;
        try {
          result = await this.send(slot, feeds);
        } catch (err) {
          throw new StartupError(
            `warm-up inference on ${this.opts.onnxPath} failed (${(err as Error).message}); fix: check that the model runs with onnxruntime on CPU`,
          );
        }
        slot.state = 'idle';
        return result;
      }),
    );
    this.opts.onFree();
    return results[0] as RunResult;
  }

  idle(): number {
    return this.slots.filter((s) => s.state === 'idle').length;
  }

  busy(): number {
    return this.slots.filter((s) => s.state === 'busy').length;
  }

  /** Workers able to serve (idle or busy). */
  serving(): number {
    return this.idle() + this.busy();
  }

  /** Runs a batch on an idle worker (the caller checked idle() > 0). */
  run(feeds: Record<string, WireTensor>): Promise<RunResult> {
    const slot = this.slots.find((s) => s.state === 'idle');
    if (slot === undefined) return Promise.reject(new Error('no idle inference worker'));
    slot.state = 'busy';
    return this.send(slot, feeds, ownedBuffers(feeds)).finally(() => {
      if (slot.state === 'busy') {
        slot.state = 'idle';
        this.opts.onFree();
      }
    });
  }

  private send(
    slot: Slot,
    feeds: Record<string, WireTensor>,
    transfer: ArrayBuffer[] = [],
  ): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      slot.job = { id, resolve, reject };
      slot.worker.postMessage({ type: 'run', id, feeds }, transfer);
    });
  }

  private spawnSlot(replacing?: Slot): void {
    const slot: Slot = {
      worker: this.opts.spawn(),
      state: 'loading',
      job: undefined,
      closing: false,
      lastError: undefined,
    };
    if (replacing) this.slots[this.slots.indexOf(replacing)] = slot;
    else this.slots.push(slot);
    slot.worker.on('message', (msg) => this.onMessage(slot, msg));
    slot.worker.on('error', (err) => {
      slot.lastError = err.message.replace(/\s+/g, ' ').slice(0, 300);
      this.opts.log.error({ err: { message: err.message } }, 'inference worker failed');
    });
    slot.worker.on('exit', (code) => this.onExit(slot, code));
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    switch (msg.type) {
      case 'loaded':
        if (this.warmupFeeds === undefined) {
          this.loaded?.({ inputs: msg.inputs, outputs: msg.outputs, loadSeconds: msg.loadSeconds });
          return;
        }
        this.restartDelay = this.opts.restartDelayMs ?? 1000;
        void this.warmReplacement(slot);
        return;
      case 'fatal':
        if (this.warmupFeeds === undefined && this.failedToLoad) {
          this.failedToLoad(
            new StartupError(
              `${this.opts.onnxPath} could not be loaded by onnxruntime (${msg.message}); fix: provide a valid ONNX model file (re-export or re-download it)`,
            ),
          );
          return;
        }
        this.opts.log.error({ error: msg.message }, 'replacement inference worker could not load the model');
        slot.closing = true;
        void slot.worker.terminate();
        this.scheduleRespawn(slot);
        return;
      case 'result':
      case 'failed': {
        const job = slot.job;
        if (job === undefined || job.id !== msg.id) return;
        slot.job = undefined;
        if (msg.type === 'result') job.resolve({ outputs: msg.outputs, inferenceMs: msg.inferenceMs });
        else job.reject(new InferenceError(msg.message));
        return;
      }
    }
  }

  private async warmReplacement(slot: Slot): Promise<void> {
    slot.state = 'warming';
    try {
      await this.send(slot, this.warmupFeeds as Record<string, WireTensor>);
    } catch (err) {
      this.opts.log.error(
        { error: (err as Error).message },
        'replacement inference worker failed to warm up',
      );
      return;
    }
    if (slot.state !== 'warming') return;
    slot.state = 'idle';
    this.opts.log.info({ workers: this.serving() }, 'replacement inference worker ready');
    this.opts.onFree();
  }

  private onExit(slot: Slot, code: number): void {
    const wasClosing = slot.closing;
    const job = slot.job;
    slot.state = 'dead';
    slot.job = undefined;
    if (job) job.reject(new Error('the inference worker stopped while running this request'));
    if (wasClosing || this.closed) return;
    if (this.warmupFeeds === undefined && this.failedToLoad) {
      this.failedToLoad(new StartupError(exitedWhileLoading(this.opts.onnxPath, code, slot.lastError)));
      return;
    }
    this.opts.log.error({ exitCode: code }, 'inference worker died; starting a replacement');
    this.opts.onRestart?.();
    this.spawnSlot(slot);
  }

  private scheduleRespawn(slot: Slot): void {
    const delay = this.restartDelay;
    this.restartDelay = Math.min(this.restartDelay * 2, 30_000);
    setTimeout(() => {
      if (!this.closed) this.spawnSlot(slot);
    }, delay).unref();
  }

  /** Terminates every worker (after the caller drained the work). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map((s) => {
        s.closing = true;
        return s.worker.terminate();
      }),
    );
  }
}

/**
 * Buffers of large batch feeds that may move to the worker instead of being copied: only typed arrays
 * that span their whole ArrayBuffer (a view into a shared pool, e.g. a request body, must stay) and are
 * big enough for a move to beat a copy. The caller never reads a batch's feeds after run().
 */
function ownedBuffers(feeds: Record<string, WireTensor>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of Object.values(feeds)) {
    const d = t.data;
    if (!ArrayBuffer.isView(d) || !(d.buffer instanceof ArrayBuffer)) continue;
    if (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength && d.byteLength >= 64 * 1024) {
      out.add(d.buffer);
    }
  }
  return [...out];
}

/**
 * The startup line for a worker that died before it loaded the model: its own error (the thread's
 * uncaught error, e.g. a shared library the onnxruntime binding cannot open) and the fix for it.
 */
export function exitedWhileLoading(onnxPath: string, code: number, workerError: string | undefined): string {
  const what = `the inference worker for ${onnxPath} exited (code ${code}) while loading`;
  if (workerError === undefined) {
    return `${what}; fix: run the server with LOG_LEVEL=debug and check that onnxruntime-node matches this platform`;
  }
  const library = /([\w.+-]+\.so(?:\.\d+)*): cannot open shared object file/.exec(workerError);
  return library
    ? `${what}: ${workerError}; fix: onnxruntime-node cannot load ${library[1]}: use a glibc base image that has it (onnxruntime needs libstdc++, libgcc_s, libdl, libpthread and librt), e.g. gcr.io/distroless/nodejs24-debian12 or node:24-bookworm-slim`
    : `${what}: ${workerError}; fix: check that onnxruntime-node is installed for this platform next to the server and that the model file is intact`;
}
