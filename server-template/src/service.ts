/**
 * The inference service: turns texts or tensors into queued rows, lets the batcher group them, runs
 * batches on the worker pool, and splits the results back per request. Knows nothing about HTTP: its
 * failures are ServiceErrors (and TensorErrors), which the HTTP edge (app.ts) maps to statuses.
 */
import type { Pending } from './batcher.js';
import { Batcher } from './batcher.js';
import type { Classification } from './classify.js';
import { Classifier } from './classify.js';
import type { Config } from './config.js';
import { ServiceError } from './errors.js';
import type { Metrics } from './metrics.js';
import type { ProbeBatch } from './inline.js';
import type { ModelFiles } from './model-dir.js';
import { InferenceError, type InferenceRunner, type LoadedModel, type RunResult } from './pool.js';
import type { TensorSpec, WireTensor } from './tensors.js';
import { concatRows, sliceRows, TensorError, zeros } from './tensors.js';
import type { Encoded, TextPipeline } from './text.js';

export interface ModelInfo {
  name: string;
  version: string;
  /** True when the model has a tokenizer: /predict and BYTES inputs accept text. */
  text: boolean;
  labels: string[] | undefined;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  maxSequenceLength: number | undefined;
}

export interface Timing {
  /** Longest time one of the request's rows waited for a worker (ms). */
  queueMs: number;
  /** Longest ONNX Runtime run() among the request's batches (ms). */
  inferenceMs: number;
  tokenizeMs: number;
}

type Work =
  { kind: 'text'; enc: Encoded } | { kind: 'tensor'; feeds: Record<string, WireTensor>; rows: number };

interface ItemResult {
  outputs: Record<string, WireTensor>;
  queueMs: number;
  inferenceMs: number;
}

interface Row {
  work: Work;
  resolve(r: ItemResult): void;
  reject(err: Error): void;
  settled: boolean;
}

export interface ServiceDeps {
  config: Config;
  files: ModelFiles;
  /** Where batches run at first (useRunner may move them). */
  pool: InferenceRunner;
  model: LoadedModel;
  text: TextPipeline | undefined;
  metrics: Metrics;
  name: string;
  now?: () => number;
}

export class InferenceService {
  readonly info: ModelInfo;
  private classifier: Classifier | undefined;
  private readonly batcher: Batcher<Row>;
  private readonly now: () => number;
  private inFlight = 0;
  private drained: (() => void) | undefined;
  private stopping = false;
  private tensorKeySeq = 0;
  /** Every input has a dynamic first (batch) dimension: a request's inputs must agree on its rows. */
  private readonly batchedInputs: boolean;
  /**
   * Whether requests may share a batch: only when every output splits back into rows, i.e. the model
   * declares a dynamic first dimension on every output, the two-row warm-up gave two rows, and no batch
   * has yet returned an output whose first dimension was not its row count.
   */
  private batching: boolean;
  private readonly logitsName: string | undefined;
  private runner: InferenceRunner;

  constructor(private readonly deps: ServiceDeps) {
    const { config, model, text } = deps;
    this.now = deps.now ?? (() => performance.now());
    this.runner = deps.pool;
    this.batchedInputs = model.inputs.every((i) => i.shape.length > 0 && (i.shape[0] ?? 0) < 0);
    this.batching =
      this.batchedInputs && model.outputs.every((o) => o.shape.length > 0 && (o.shape[0] ?? 0) < 0);
    this.logitsName = (model.outputs.find((o) => o.name === 'logits') ?? model.outputs[0])?.name;
    this.info = {
      name: deps.name,
      version: config.modelVersion,
      text: text !== undefined,
      labels: undefined,
      inputs: model.inputs,
      outputs: model.outputs,
      maxSequenceLength: text?.maxLength,
    };
    this.batcher = new Batcher<Row>(
      {
        maxBatchRows: config.maxBatchSize,
        maxDelayMs: config.maxBatchDelayMs,
        maxPaddingFraction: config.maxPaddingFraction,
        maxQueueRows: config.maxQueue,
        now: this.now,
        setTimer: (fn, ms) => {
          const t = setTimeout(fn, ms);
          return () => clearTimeout(t);
        },
      },
      {
        idle: () => this.runner.idle(),
        busy: () => this.runner.busy(),
        dispatch: (batch) => this.dispatch(batch),
      },
    );
    deps.metrics.sources.queuedRows = () => this.batcher.queuedRows;
  }

  /** Called by the pool when a worker becomes free. */
  pump(): void {
    this.batcher.pump();
  }

  /** Sends later batches to another runner (the caller checked that none is running). */
  useRunner(runner: InferenceRunner): void {
    this.runner = runner;
  }

  /** Whether requests may share a batch (false: every request runs alone). */
  get batches(): boolean {
    return this.batching;
  }

  /**
   * Feeds for the warm-up inference: a real tokenized text, or zeros with dynamic dims set to 1; two
   * rows when the model batches, so that setWarmupResult can check that its outputs split into rows
   * (`rows` = 1: one text, to time the model's cheapest run).
   */
  warmupFeeds(rows = this.batchedInputs ? WARMUP_ROWS : 1): Record<string, WireTensor> {
    if (this.deps.text) {
      const enc = this.deps.text.encode(WARMUP_TEXT);
      return this.deps.text.feeds(new Array<Encoded>(rows).fill(enc));
    }
    const feeds: Record<string, WireTensor> = {};
    for (const spec of this.deps.model.inputs) {
      const dims = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? rows : 1));
      feeds[spec.name] = {
        type: spec.type,
        dims,
        data: zeros(
          spec.type,
          dims.reduce((a, b) => a * b, 1),
        ),
      };
    }
    return feeds;
  }

  /**
   * Batches of short and of long texts, to time what padding costs on this model (fixedCostTokens);
   * undefined where padding never happens: no tokenizer, no batching, or no attention mask (only equal
   * lengths share a batch then).
   */
  paddingProbe(): { short: ProbeBatch; long: ProbeBatch } | undefined {
    const text = this.deps.text;
    if (!text || !this.batching || text.plan.needsEqualLengths) return undefined;
    const rows = Math.min(PROBE_ROWS, this.deps.config.maxBatchSize);
    const batch = (s: string): ProbeBatch => {
      const enc = text.encode(s);
      return { tokens: rows * enc.ids.length, feeds: () => text.feeds(new Array<Encoded>(rows).fill(enc)) };
    };
    const short = batch(WARMUP_TEXT);
    const long = batch(new Array<string>(PROBE_REPEAT).fill(WARMUP_TEXT).join(' '));
    return long.tokens > short.tokens ? { short, long } : undefined;
  }

  /** Bounds each batch's padding by tokens from now on (see Batcher.setMaxPaddingTokens). */
  setMaxPaddingTokens(tokens: number): void {
    this.batcher.setMaxPaddingTokens(tokens);
  }

  /**
   * Turns batching off unless every warm-up output has one row per warm-up row, then derives the labels
   * from the warm-up result's class count (the ONNX shape may leave it dynamic).
   */
  setWarmupResult(result: RunResult): void {
    if (this.batching && !splitsIntoRows(result.outputs, WARMUP_ROWS)) this.batching = false;
    if (!this.deps.text || this.logitsName === undefined) return;
    const logits = result.outputs[this.logitsName];
    const classes = logits?.dims[logits.dims.length - 1];
    if (logits === undefined || logits.dims.length !== 2 || classes === undefined || classes < 1) return;
    this.classifier = new Classifier(this.deps.files.config, classes);
    this.info.labels = this.classifier.labels;
  }

  /** Whether /predict can answer (a text model with a [batch, classes] output). */
  get classifies(): boolean {
    return this.classifier !== undefined;
  }

  private requireText(): TextPipeline {
    if (!this.deps.text) {
      throw new ServiceError(
        'invalid-input',
        `model '${this.info.name}' has no tokenizer.json, so it takes tensors, not text; use POST /v2/models/${this.info.name}/infer`,
      );
    }
    return this.deps.text;
  }

  private encodeAll(texts: string[]): { encs: Encoded[]; tokenizeMs: number } {
    const text = this.requireText();
    const t0 = this.now();
    const encs = texts.map((t) => text.encode(t));
    const tokenizeMs = this.now() - t0;
    const m = this.deps.metrics;
    m.tokenization.observe(tokenizeMs / 1000);
    for (const e of encs) {
      m.inputTokens.observe(e.ids.length);
      if (e.truncated) m.truncated.inc();
    }
    return { encs, tokenizeMs };
  }

  /** Classifies texts (the /predict and KServe v1 paths). */
  async classify(texts: string[]): Promise<{ results: Classification[]; timing: Timing }> {
    const { encs, tokenizeMs } = this.encodeAll(texts);
    const classifier = this.classifier;
    const logitsName = this.logitsName;
    if (classifier === undefined || logitsName === undefined) {
      throw new ServiceError(
        'invalid-input',
        `model '${this.info.name}' has no [batch, classes] output to classify with; use POST /v2/models/${this.info.name}/infer`,
      );
    }
    const { results, timing } = await this.submit(encs.map((enc) => this.textRow(enc)));
    const out = results.map((r) => {
      const c = classifier.classify(r.outputs[logitsName]?.data as Float32Array);
      this.deps.metrics.predictions.inc({ label: c.top.label });
      this.deps.metrics.score.observe({ label: c.top.label }, c.top.score);
      return c;
    });
    return { results: out, timing: { ...timing, tokenizeMs } };
  }

  /** Runs texts through the model and returns the raw outputs stacked by row (v2 BYTES input). */
  async inferTexts(texts: string[]): Promise<{ outputs: Record<string, WireTensor>; timing: Timing }> {
    const { encs, tokenizeMs } = this.encodeAll(texts);
    const { results, timing } = await this.submit(encs.map((enc) => this.textRow(enc)));
    try {
      return { outputs: stack(results), timing: { ...timing, tokenizeMs } };
    } catch (err) {
      throw new ServiceError('invalid-input', (err as Error).message);
    }
  }

  /** Runs decoded tensors (all sharing the first, batch dimension when the model batches). */
  async inferTensors(
    feeds: Record<string, WireTensor>,
  ): Promise<{ outputs: Record<string, WireTensor>; timing: Timing }> {
    const rows = Object.values(feeds)[0]?.dims[0] ?? 1;
    if (this.batchedInputs && Object.values(feeds).some((t) => t.dims[0] !== rows)) {
      throw new TensorError('all inputs must have the same first (batch) dimension');
    }
    if (this.batchedInputs && rows === 0) {
      throw new TensorError(
        `the batch (first) dimension of input '${Object.keys(feeds)[0]}' is 0; send at least one row`,
      );
    }
    if (rows > this.deps.config.maxTexts) {
      throw new ServiceError(
        'too-large',
        `${rows} rows exceed the limit of ${this.deps.config.maxTexts} per request (MAX_TEXTS)`,
      );
    }
    const key = this.batching
      ? Object.entries(feeds)
          .map(([n, t]) => `${n}:${t.dims.slice(1).join('x')}`)
          .join(';')
      : `solo-${this.tensorKeySeq++}`;
    const { results, timing } = await this.submit([
      { key, length: 0, rows: Math.max(rows, 1), work: { kind: 'tensor', feeds, rows } },
    ]);
    return { outputs: (results[0] as ItemResult).outputs, timing: { ...timing, tokenizeMs: 0 } };
  }

  private textRow(enc: Encoded): { key: string; length: number; rows: number; work: Work } {
    // Without an attention mask, padding would change answers: only equal lengths share a batch.
    const key = !this.batching
      ? `solo-${this.tensorKeySeq++}`
      : this.deps.text?.plan.needsEqualLengths
        ? `text:${enc.ids.length}`
        : 'text';
    return { key, length: enc.ids.length, rows: 1, work: { kind: 'text', enc } };
  }

  private async submit(
    items: { key: string; length: number; rows: number; work: Work }[],
  ): Promise<{ results: ItemResult[]; timing: Omit<Timing, 'tokenizeMs'> }> {
    const { config, metrics } = this.deps;
    const retryAfter = config.retryAfterSeconds;
    if (this.stopping) {
      metrics.rejected.inc({ reason: 'shutting_down' });
      throw new ServiceError('unavailable', 'the server is shutting down', retryAfter);
    }
    const rows: Row[] = [];
    const promises = items.map(
      (item) =>
        new Promise<ItemResult>((resolve, reject) => {
          rows.push({ work: item.work, resolve, reject, settled: false });
        }),
    );
    const queued = this.batcher.offer(items.map((item, i) => ({ ...item, payload: rows[i] as Row })));
    if (queued === undefined) throw this.queueFull();
    this.inFlight++;
    // The timeout rejects the rows themselves (a later answer for them is ignored): no extra promise
    // and race per request on the hot path.
    const timer = setTimeout(() => {
      this.batcher.remove(queued);
      metrics.rejected.inc({ reason: 'timeout' });
      const err = new ServiceError(
        'unavailable',
        `no answer within ${config.requestTimeoutMs} ms (REQUEST_TIMEOUT_MS)`,
        retryAfter,
      );
      for (const r of rows) r.reject(err);
    }, config.requestTimeoutMs);
    try {
      const results =
        promises.length === 1 ? [await (promises[0] as Promise<ItemResult>)] : await Promise.all(promises);
      return {
        results,
        timing: {
          queueMs: Math.max(...results.map((r) => r.queueMs)),
          inferenceMs: Math.max(...results.map((r) => r.inferenceMs)),
        },
      };
    } catch (err) {
      if (err instanceof ServiceError || err instanceof TensorError) throw err;
      // The model ran its warm-up, so when onnxruntime rejects tensors the client sent as they are,
      // their values are what it cannot run (e.g. a token id beyond the vocabulary). Feeds the server
      // built itself (tokenized text) failing is the server's problem.
      if (err instanceof InferenceError && items.every((i) => i.work.kind === 'tensor')) {
        throw new ServiceError(
          'invalid-input',
          `the model cannot run on this input (onnxruntime: ${err.message})`,
        );
      }
      if (err instanceof InferenceError) throw new ServiceError('failed', `inference failed: ${err.message}`);
      throw new ServiceError('failed', `inference failed: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
      for (const r of rows) r.settled = true;
      if (--this.inFlight === 0) this.drained?.();
    }
  }

  private dispatch(batch: Pending<Row>[]): void {
    const { metrics } = this.deps;
    const start = this.now();
    let totalRows = 0;
    for (const item of batch) {
      metrics.queueWait.observe((start - item.enqueuedAt) / 1000);
      totalRows += item.rows;
    }
    metrics.batchSize.observe(totalRows);
    let feeds: Record<string, WireTensor>;
    try {
      feeds = this.batchFeeds(batch.map((b) => b.payload));
    } catch (err) {
      // Never leave a dispatched row unanswered: its request would wait for the timeout.
      for (const item of batch) item.payload.reject(err as Error);
      return;
    }
    this.runner.run(feeds).then(
      (result) => {
        metrics.inference.observe(result.inferenceMs / 1000);
        const shared = batch.length > 1;
        if (shared && !splitsIntoRows(result.outputs, totalRows)) {
          // An output that is not one row per input row cannot be split between the requests: never
          // hand it to all of them. Stop batching and run each request alone instead.
          this.batching = false;
          this.runAlone(batch);
          return;
        }
        let offset = 0;
        batch.forEach((item) => {
          const outputs: Record<string, WireTensor> = {};
          for (const [name, t] of Object.entries(result.outputs)) {
            // A request alone in its batch owns every output whole.
            outputs[name] = shared ? sliceRows(t, offset, offset + item.rows) : t;
          }
          offset += item.rows;
          item.payload.resolve({
            outputs,
            queueMs: start - item.enqueuedAt,
            inferenceMs: result.inferenceMs,
          });
        });
      },
      (err: Error) => {
        // One request's bad values must not fail the others it was batched with: retry each alone.
        if (batch.length > 1) this.runAlone(batch);
        else for (const item of batch) item.payload.reject(err);
      },
    );
  }

  /** The 503 for a full queue (counted). */
  private queueFull(): ServiceError {
    const { config, metrics } = this.deps;
    metrics.rejected.inc({ reason: 'queue_full' });
    return new ServiceError(
      'unavailable',
      `the inference queue is full (MAX_QUEUE=${config.maxQueue}); retry later`,
      config.retryAfterSeconds,
    );
  }

  /** Queues each item of a batch again, each in a batch of its own. */
  private runAlone(batch: Pending<Row>[]): void {
    for (const item of batch) {
      const queued = this.batcher.offer([
        { key: `solo-${this.tensorKeySeq++}`, length: item.length, rows: item.rows, payload: item.payload },
      ]);
      if (queued === undefined) item.payload.reject(this.queueFull());
    }
  }

  /** Pads texts, or stacks tensors along the batch dimension, into one set of feeds. */
  private batchFeeds(live: Row[]): Record<string, WireTensor> {
    const first = live[0]?.work;
    if (first?.kind === 'text') {
      return (this.deps.text as TextPipeline).feeds(live.map((r) => (r.work as { enc: Encoded }).enc));
    }
    const names = Object.keys((first as { feeds: Record<string, WireTensor> }).feeds);
    return Object.fromEntries(
      names.map((n) => [
        n,
        concatRows(live.map((r) => (r.work as { feeds: Record<string, WireTensor> }).feeds[n] as WireTensor)),
      ]),
    );
  }

  /** Refuses new work and resolves once every admitted request has been answered. */
  drain(): Promise<void> {
    this.stopping = true;
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  stop(): void {
    this.batcher.stop();
  }
}

/** Rows of the two-row warm-up of a batching model. */
const WARMUP_ROWS = 2;
const WARMUP_TEXT = 'Warm-up inference.';
/** The padding probe: rows per batch, and how many warm-up texts make its long text. */
const PROBE_ROWS = 8;
const PROBE_REPEAT = 12;

/** Whether every output has `rows` rows (first dimension), so it can be split between requests. */
function splitsIntoRows(outputs: Record<string, WireTensor>, rows: number): boolean {
  return Object.values(outputs).every((t) => t.dims.length > 0 && t.dims[0] === rows);
}

/** Stacks per-row results back into [rows, ...] tensors. */
function stack(results: ItemResult[]): Record<string, WireTensor> {
  const names = Object.keys(results[0]?.outputs ?? {});
  return Object.fromEntries(
    names.map((n) => [n, concatRows(results.map((r) => r.outputs[n] as WireTensor))]),
  );
}
