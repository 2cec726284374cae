/**
 * The session on the HTTP thread. For a model whose one-text run is cheaper than the hop to the
 * inference thread and back (two thread wake-ups, 0.1-0.3 ms measured on 2 cores, more than the whole
 * run of a small classifier), the server opens its one session here instead (see server.ts), as a
 * hand-written server would, and keeps the batching: requests that arrive during a run are read before
 * the session is free again, so they share the next batch.
 */
import { InferenceError, type InferenceRunner, type RunResult } from './pool.js';
import { loadOrt, oneLine, openSession, type Ort, runSession, type Session } from './session.js';
import type { WireTensor } from './tensors.js';

export class InlineRunner implements InferenceRunner {
  private running = false;
  private closed = false;

  private constructor(
    private readonly ort: Ort,
    private readonly session: Session,
    private readonly onFree: () => void,
  ) {}

  static async open(onnxPath: string, threads: number, onFree: () => void): Promise<InlineRunner> {
    const ort = loadOrt();
    return new InlineRunner(ort, await openSession(ort, onnxPath, threads, 'inline'), onFree);
  }

  idle(): number {
    return this.running || this.closed ? 0 : 1;
  }

  busy(): number {
    return this.running ? 1 : 0;
  }

  serving(): number {
    return this.closed ? 0 : 1;
  }

  async run(feeds: Record<string, WireTensor>): Promise<RunResult> {
    if (this.running || this.closed) throw new Error('the inference session is busy');
    this.running = true;
    try {
      return await runSession(this.ort, this.session, feeds);
    } catch (err) {
      throw new InferenceError(oneLine(err));
    } finally {
      // onnxruntime-node's run() held this thread: free the session only after the event loop has read
      // the requests that arrived meanwhile (setImmediate runs after the poll phase), so they queue up
      // and leave together in the next batch instead of the first of them going alone.
      setImmediate(() => {
        this.running = false;
        if (!this.closed) this.onFree();
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.session.release();
  }
}

/** Takes no batch: requests queue while the session moves between threads (before readiness). */
export const PAUSED: InferenceRunner = {
  idle: () => 0,
  busy: () => 0,
  serving: () => 0,
  run: () => Promise.reject(new Error('the inference session is moving')),
  close: () => Promise.resolve(),
};

/**
 * The median of `times` one-text runs on `runner` (ms, onnxruntime's run() alone), or undefined when
 * the runner was busy (requests that arrived before readiness came first).
 */
export async function timeOneText(
  runner: InferenceRunner,
  feeds: () => Record<string, WireTensor>,
  times = 5,
): Promise<number | undefined> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    if (runner.idle() === 0) return undefined;
    ms.push((await runner.run(feeds())).inferenceMs);
  }
  return median(ms);
}

/** The middle value of `xs` (sorts it in place). */
function median(xs: number[]): number {
  return xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
}

/** A batch to time: its feeds (built afresh per run) and its padded token count (rows x length). */
export interface ProbeBatch {
  tokens: number;
  feeds(): Record<string, WireTensor>;
}

/**
 * A run's fixed cost in padded tokens, the padding budget of a batch (Batcher.setMaxPaddingTokens):
 * from the fastest of `times` runs of a batch of short texts and of the same rows of long ones (what
 * else runs on the machine only ever adds time), the cost of one more padded token (the difference over
 * the tokens added) and what a run costs beyond its tokens. Infinity when the long batch costs no more
 * than the short one (a model whose runs are all fixed cost); undefined when the runner was busy.
 */
export async function fixedCostTokens(
  runner: InferenceRunner,
  probe: { short: ProbeBatch; long: ProbeBatch },
  times = 5,
): Promise<number | undefined> {
  const timeRun = async (batch: ProbeBatch): Promise<number | undefined> => {
    // InlineRunner frees the session on the next turn of the event loop (see run()).
    await new Promise((resolve) => setImmediate(resolve));
    if (runner.idle() === 0) return undefined;
    return (await runner.run(batch.feeds())).inferenceMs;
  };
  // One untimed run of each shape first (a new shape's first run allocates), then the two alternate
  // so that whatever else the machine does hits both alike.
  const ms: { short: number[]; long: number[] } = { short: [], long: [] };
  for (let i = 0; i <= times; i++) {
    for (const which of ['short', 'long'] as const) {
      const t = await timeRun(probe[which]);
      if (t === undefined) return undefined;
      if (i > 0) ms[which].push(t);
    }
  }
  const short = Math.min(...ms.short);
  const long = Math.min(...ms.long);
  const perToken = (long - short) / (probe.long.tokens - probe.short.tokens);
  if (!(perToken > 0)) return Number.POSITIVE_INFINITY;
  return Math.max(0, short / perToken - probe.short.tokens);
}
