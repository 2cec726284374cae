/**
 * The server's pure cores in process: the batching scheduler (fake clock), settings validation, the text
 * pipeline's truncation and padding over the example tokenizer, the worker pool replacing a worker
 * thread that dies, and the log lines written in bursts.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from '@jest/globals';
import { Batcher, type Pending } from '../../server-template/src/batcher.js';
import { Classifier } from '../../server-template/src/classify.js';
import { BurstLines } from '../../server-template/src/log-lines.js';
import { parseConfig } from '../../server-template/src/config.js';
import { readModelDir } from '../../server-template/src/model-dir.js';
import { WorkerPool, type WorkerHandle } from '../../server-template/src/pool.js';
import { planTextFeeds, TextPipeline } from '../../server-template/src/text.js';
import type { TensorSpec } from '../../server-template/src/tensors.js';
import { fixtureModels } from '../fixtures/models.js';

function harness(opts: {
  maxBatchRows?: number;
  maxDelayMs?: number;
  maxQueueRows?: number;
  workers?: number;
}) {
  let now = 0;
  let timer: { at: number; fn: () => void } | undefined;
  let idle = opts.workers ?? 1;
  let busy = 0;
  const batches: Pending<string>[][] = [];
  const batcher = new Batcher<string>(
    {
      maxBatchRows: opts.maxBatchRows ?? 4,
      maxDelayMs: opts.maxDelayMs ?? 10,
      maxQueueRows: opts.maxQueueRows ?? 100,
      maxPaddingFraction: 0.2,
      now: () => now,
      setTimer: (fn, ms) => {
        timer = { at: now + ms, fn };
        return () => (timer = undefined);
      },
    },
    {
      idle: () => idle,
      busy: () => busy,
      dispatch: (b) => {
        batches.push(b);
        idle--;
        busy++;
      },
    },
  );
  const item = (payload: string, length = 10, key = 'text', rows = 1) => ({ key, length, rows, payload });
  return {
    batcher,
    batches,
    item,
    names: () => batches.map((b) => b.map((i) => i.payload)),
    finish() {
      idle++;
      busy--;
      batcher.pump();
    },
    advance(ms: number) {
      now += ms;
      if (timer && timer.at <= now) {
        const t = timer;
        timer = undefined;
        t.fn();
      }
    },
  };
}

describe('batcher', () => {
  it('runs a lone request at once when a worker is idle (no added latency)', () => {
    const h = harness({});
    h.batcher.offer([h.item('a')]);
    expect(h.names()).toEqual([['a']]);
  });

  it('gathers rows while a batch runs, then sends them together, up to the batch size', () => {
    const h = harness({ maxBatchRows: 3 });
    h.batcher.offer([h.item('a')]);
    for (const p of ['b', 'c', 'd', 'e']) h.batcher.offer([h.item(p)]);
    expect(h.names()).toEqual([['a']]);
    h.finish();
    expect(h.names()).toEqual([['a'], ['b', 'c', 'd']]);
    h.finish();
    expect(h.names()).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
  });

  it('waits at most the delay for companions while another worker is busy', () => {
    const h = harness({ workers: 2, maxDelayMs: 10, maxBatchRows: 8 });
    h.batcher.offer([h.item('a')]);
    h.batcher.offer([h.item('b')]);
    expect(h.names()).toEqual([['a']]);
    h.advance(4);
    h.batcher.offer([h.item('c')]);
    expect(h.names()).toEqual([['a']]);
    h.advance(6);
    expect(h.names()).toEqual([['a'], ['b', 'c']]);
  });

  it('groups similar lengths and never mixes keys', () => {
    const h = harness({ maxBatchRows: 2 });
    h.batcher.offer([h.item('busy')]);
    h.batcher.offer([h.item('short', 5), h.item('long', 200), h.item('short2', 6), h.item('other', 5, 'k2')]);
    h.finish();
    h.finish();
    h.finish();
    expect(h.names()).toEqual([['busy'], ['short', 'short2'], ['long'], ['other']]);
  });

  it('keeps padding under the bound: very different lengths run in separate batches', () => {
    const h = harness({ maxBatchRows: 8 });
    h.batcher.offer([h.item('busy')]);
    h.batcher.offer([h.item('a', 10), h.item('b', 60), h.item('c', 9), h.item('d', 11), h.item('e', 55)]);
    h.finish();
    h.finish();
    expect(h.names()).toEqual([['busy'], ['a', 'c', 'd'], ['b', 'e']]);
  });

  it("with a padding budget in tokens (a run's fixed cost), pads up to it or to the fraction bound", () => {
    const h = harness({ maxBatchRows: 8 });
    // a 10 + c 9 + d 11 pad to 33 tokens: 3 padded. b 60 with them would pad 4 x 60 - 90 = 150.
    h.batcher.setMaxPaddingTokens(20);
    h.batcher.offer([h.item('busy')]);
    h.batcher.offer([h.item('a', 10), h.item('b', 60), h.item('c', 9), h.item('d', 11), h.item('e', 55)]);
    h.finish();
    h.finish();
    expect(h.names()).toEqual([['busy'], ['a', 'c', 'd'], ['b', 'e']]);
    // A model whose runs cost the same whatever the lengths: every length shares one batch.
    h.batcher.setMaxPaddingTokens(Number.POSITIVE_INFINITY);
    h.finish();
    h.batcher.offer([h.item('busy2')]);
    h.batcher.offer([h.item('f', 10), h.item('g', 60), h.item('h', 9), h.item('i', 55)]);
    h.finish();
    h.finish();
    expect(h.names().slice(3)).toEqual([['busy2'], ['f', 'g', 'h', 'i']]);
    // A budget timed at 0 (a busy machine at start) never splits what the fraction bound lets share.
    h.batcher.setMaxPaddingTokens(0);
    h.finish();
    h.batcher.offer([h.item('busy3')]);
    h.batcher.offer([h.item('j', 150), h.item('k', 151), h.item('l', 60)]);
    h.finish();
    h.finish();
    expect(h.names().slice(5)).toEqual([['busy3'], ['j', 'k'], ['l']]);
  });

  it('refuses a request that does not fit the queue, all or nothing, and forgets removed rows', () => {
    const h = harness({ maxQueueRows: 3 });
    h.batcher.offer([h.item('running')]);
    const queued = h.batcher.offer([h.item('a'), h.item('b')]);
    expect(queued).toHaveLength(2);
    expect(h.batcher.offer([h.item('c'), h.item('d')])).toBeUndefined();
    expect(h.batcher.queuedRows).toBe(2);
    expect(h.batcher.remove(queued ?? [])).toBe(2);
    expect(h.batcher.queuedRows).toBe(0);
    h.finish();
    expect(h.names()).toEqual([['running']]);
  });

  it('is first in, first out: a long text is not starved by a stream of short ones', () => {
    const h = harness({ maxBatchRows: 4 });
    h.batcher.offer([h.item('first', 5)]);
    h.batcher.offer([h.item('long', 60)]);
    // Short texts keep arriving while each batch runs; they would fill every batch on their own.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) h.batcher.offer([h.item(`short${round}-${i}`, 5)]);
      h.finish();
    }
    // The long text is the oldest once "first" is done: it runs next (alone, its padding would be too
    // costly with short ones), before the shorts that arrived after it.
    expect(h.names()[1]).toEqual(['long']);
    expect(h.names()[2]).toEqual(['short0-0', 'short0-1', 'short0-2', 'short0-3']);
  });

  it('is never overtaken by a later text it could share a batch with', () => {
    const h = harness({ maxBatchRows: 2 });
    h.batcher.offer([h.item('busy')]);
    // c has a's length exactly, b nearly: b came first, so b goes with a.
    h.batcher.offer([h.item('a', 10), h.item('b', 11), h.item('c', 10)]);
    h.finish();
    h.finish();
    expect(h.names()).toEqual([['busy'], ['a', 'b'], ['c']]);
  });

  it('spreads queued rows over several idle workers', () => {
    const h = harness({ workers: 2, maxBatchRows: 8 });
    h.batcher.offer([h.item('a'), h.item('b'), h.item('c'), h.item('d')]);
    expect(h.names()).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });
});

describe('settings', () => {
  it('defaults give the one session every core; WORKERS x INTRA_OP_THREADS is its thread count', () => {
    const c = parseConfig({}, 4);
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0', sessionThreads: 4, modelVersion: '1' });
    expect(parseConfig({ WORKERS: '2' }, 4)).toMatchObject({ sessionThreads: 4 });
    expect(parseConfig({ WORKERS: '3' }, 4)).toMatchObject({ sessionThreads: 3 });
    expect(parseConfig({ INTRA_OP_THREADS: '2' }, 4)).toMatchObject({ sessionThreads: 2 });
    expect(parseConfig({ WORKERS: '2', INTRA_OP_THREADS: '1' }, 4)).toMatchObject({ sessionThreads: 2 });
  });

  it('the padding bound is measured unless MAX_BATCH_PADDING sets it', () => {
    expect(parseConfig({}, 2)).toMatchObject({ paddingFromCost: true, maxPaddingFraction: 0.2 });
    expect(parseConfig({ MAX_BATCH_PADDING: '0.1' }, 2)).toMatchObject({
      paddingFromCost: false,
      maxPaddingFraction: 0.1,
    });
  });

  it('names the variable and the fix for a bad value', () => {
    expect(() => parseConfig({ MAX_QUEUE: 'lots' }, 2)).toThrow(
      'MAX_QUEUE="lots" is invalid; fix: set MAX_QUEUE to an integer >= 1',
    );
    expect(() => parseConfig({ PORT: '70000' }, 2)).toThrow(/PORT to an integer between 0 and 65535/);
  });
});

describe('text pipeline', () => {
  const ids = (name: string): TensorSpec => ({ name, type: 'int64', shape: [-1, -1], dimNames: ['b', 's'] });

  it('truncates to the maximum length and keeps the closing special token', async () => {
    const files = await readModelDir((await fixtureModels()).sentiment, undefined);
    const text = new TextPipeline(
      files,
      planTextFeeds([ids('input_ids'), ids('attention_mask')], 'm.onnx'),
      8,
    );
    const long = text.encode('I love this and I love that and I love everything about it');
    expect(long.truncated).toBe(true);
    expect(long.ids).toHaveLength(8);
    expect(long.ids[0]).toBe(0); // <s>
    expect(long.ids[7]).toBe(2); // </s>
    const short = text.encode('I love this');
    expect(short.truncated).toBe(false);
    expect(long.ids.slice(0, short.ids.length - 1)).toEqual(short.ids.slice(0, -1));
  });

  it('pads a batch with the pad id and attention mask 0', async () => {
    const files = await readModelDir((await fixtureModels()).sentiment, undefined);
    const text = new TextPipeline(
      files,
      planTextFeeds([ids('input_ids'), ids('attention_mask')], 'm.onnx'),
      512,
    );
    const feeds = text.feeds([text.encode('I love this'), text.encode('Bad')]);
    const width = feeds.input_ids?.dims[1] as number;
    expect(feeds.input_ids?.dims).toEqual([2, width]);
    const row2 = Array.from(feeds.input_ids?.data as BigInt64Array).slice(width);
    const mask2 = Array.from(feeds.attention_mask?.data as BigInt64Array).slice(width);
    const used = text.encode('Bad').ids.length;
    expect(row2.slice(used).every((v) => v === 1n)).toBe(true); // <pad> = 1
    expect(mask2).toEqual([...new Array(used).fill(1n), ...new Array(width - used).fill(0n)]);
  });

  it('feeds a single integer input of any name; without a mask only equal lengths may batch', () => {
    const plan = planTextFeeds([ids('input')], 'm.onnx');
    expect(plan.inputs.map((p) => p.role)).toEqual(['ids']);
    expect(plan.needsEqualLengths).toBe(true);
    expect(() => planTextFeeds([ids('input_ids'), ids('pixel_values')], 'm.onnx')).toThrow(
      /input 'pixel_values' that text cannot feed/,
    );
  });
});

describe('classifier', () => {
  it('softmax over classes with id2label; class 1 of two is positive', () => {
    const c = new Classifier({ id2label: { '0': 'NEGATIVE', '1': 'POSITIVE' } }, 2);
    const r = c.classify([0, Math.log(3)]);
    expect(r.top).toEqual({ label: 'POSITIVE', score: expect.closeTo(0.75, 6) });
    expect(r.positive).toBe(true);
    expect(r.scores[0]?.score).toBeCloseTo(0.25, 6);
  });

  it('sigmoid per class for multi-label models and single-logit models; LABEL_i by default', () => {
    const multi = new Classifier({ problem_type: 'multi_label_classification' }, 3);
    const r = multi.classify([0, 2, -2]);
    expect(r.scores.map((s) => s.label)).toEqual(['LABEL_0', 'LABEL_1', 'LABEL_2']);
    expect(r.scores.map((s) => s.score)).toEqual([0.5, 1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(2))]);
    expect(r.positive).toBeUndefined();
    const one = new Classifier({}, 1);
    expect(one.classify([-1]).positive).toBe(false);
    expect(one.classify([1]).top.score).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
  });

  it('a label named positive decides "positive" whatever its index', () => {
    const c = new Classifier({ id2label: { '0': 'positive', '1': 'neutral', '2': 'negative' } }, 3);
    expect(c.classify([3, 0, 0]).positive).toBe(true);
    expect(c.classify([0, 3, 0]).positive).toBe(false);
  });
});

describe('worker pool', () => {
  // A stand-in inference worker (real worker thread): loads instantly, echoes its feeds, and exits
  // abruptly when asked to, like a native crash would.
  const WORKER = `
    const { parentPort } = require('node:worker_threads');
    parentPort.postMessage({ type: 'loaded', inputs: [], outputs: [], loadSeconds: 0.01 });
    parentPort.on('message', (msg) => {
      if (msg.feeds.crash) process.exit(3);
      parentPort.postMessage({ type: 'result', id: msg.id, outputs: msg.feeds, inferenceMs: 1 });
    });
  `;
  const feed = (v: number) => ({ x: { type: 'float32' as const, dims: [1], data: new Float32Array([v]) } });

  it('replaces a worker that dies: its batch fails, the new worker warms up and serves', async () => {
    let spawned = 0;
    let restarts = 0;
    const errors: string[] = [];
    let freed = 0;
    const pool = new WorkerPool({
      size: 1,
      spawn: () => {
        spawned++;
        return new Worker(WORKER, { eval: true }) as unknown as WorkerHandle;
      },
      log: { info: () => {}, error: (_o, msg) => errors.push(msg) },
      onFree: () => freed++,
      onRestart: () => restarts++,
      onnxPath: 'model.onnx',
    });
    await pool.start();
    await pool.warmup(feed(0));
    expect(pool.idle()).toBe(1);
    const ok = await pool.run(feed(7));
    expect(Array.from(ok.outputs.x?.data as Float32Array)).toEqual([7]);

    await expect(pool.run({ crash: feed(1).x })).rejects.toThrow(/worker stopped/);
    expect(restarts).toBe(1);
    expect(errors).toContain('inference worker died; starting a replacement');
    const freedBefore = freed;
    for (let i = 0; i < 200 && pool.idle() === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(spawned).toBe(2);
    expect(freed).toBeGreaterThan(freedBefore);
    const again = await pool.run(feed(9));
    expect(Array.from(again.outputs.x?.data as Float32Array)).toEqual([9]);
    await pool.close();
  });
});

describe('log lines', () => {
  const access = (id: number) => `{"level":30,"requestId":"${id}","msg":"request"}\n`;

  it('writes access lines together within the interval, and every other line at once, in order', async () => {
    const writes: string[] = [];
    const lines = new BurstLines((chunk) => writes.push(chunk), 30);
    for (let i = 0; i < 5; i++) lines.write(access(i));
    expect(writes).toEqual([]);
    await new Promise((r) => setTimeout(r, 80));
    expect(writes).toEqual([[0, 1, 2, 3, 4].map(access).join('')]);
    lines.write(access(5));
    const shutdown = '{"level":30,"msg":"shutdown complete"}\n';
    lines.write(shutdown);
    // The access line before it goes first, in the same write.
    expect(writes[1]).toBe(access(5) + shutdown);
  });

  it('writes at once when the buffered lines reach the size bound', () => {
    const writes: string[] = [];
    const lines = new BurstLines((chunk) => writes.push(chunk), 60_000, 60);
    lines.write(access(1));
    lines.write(access(2));
    expect(writes).toEqual([access(1) + access(2)]);
    lines.flush();
    expect(writes).toHaveLength(1);
  });
});
