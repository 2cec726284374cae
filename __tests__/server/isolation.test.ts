/**
 * @jest-environment ./__tests__/fixtures/ort-environment.mjs
 *
 * No request ever receives another request's data: many concurrent clients with distinct inputs,
 * interleaved with 0-row and odd-shaped requests, against one inference worker (so the batcher joins
 * them), and every answer equals what onnxruntime gives in-process for that request's input alone.
 * Also over models whose outputs do not split into rows (pooled over the batch, or a fixed two rows).
 * These small models run on the HTTP thread (INLINE_INFERENCE_MS); the row-wise one also runs on the
 * inference thread, where the session lives for slower models.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as ort from 'onnxruntime-node';
import { fixtureModels } from '../fixtures/models.js';
import {
  metricValue,
  postJson,
  request,
  startServer,
  type JsonReply,
  type RunningServer,
} from './helpers.js';

interface V2Output {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

/** A request the test sends: its rows (or a malformed body) and, for valid ones, what it must get. */
interface Client {
  body: unknown;
  /** Rows of float_input, or undefined for a request that must get a 400. */
  rows: number[][] | undefined;
}

let tensor: RunningServer;
let tensorOnThread: RunningServer;
let pooled: RunningServer;
let head: RunningServer;
let sentiment: RunningServer;
const sessions: Record<string, ort.InferenceSession> = {};

beforeAll(async () => {
  const models = await fixtureModels();
  // One worker and a batch delay: requests that arrive while a batch runs are joined into the next one.
  const batching = { WORKERS: '1', INTRA_OP_THREADS: '1', MAX_BATCH_DELAY_MS: '50', MAX_BATCH_SIZE: '64' };
  [tensor, tensorOnThread, pooled, head, sentiment] = await Promise.all([
    startServer(models.tensor, batching),
    startServer(models.tensor, { ...batching, INLINE_INFERENCE_MS: '0' }),
    startServer(models.pooled, batching),
    startServer(models.head, batching),
    startServer(models.sentiment, batching),
  ]);
  for (const [name, dir] of Object.entries({
    tensor: models.tensor,
    pooled: models.pooled,
    head: models.head,
  })) {
    sessions[name] = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  }
});

afterAll(async () => {
  await Promise.all([
    tensor?.stop(),
    tensorOnThread?.stop(),
    pooled?.stop(),
    head?.stop(),
    sentiment?.stop(),
  ]);
});

const fp32 = (shape: unknown, data: unknown) => ({
  inputs: [{ name: 'float_input', datatype: 'FP32', shape, data }],
});

/** Deterministic, distinct flower measurements: request r, row k. */
const flower = (r: number, k: number): number[] => [
  4 + ((r * 7 + k * 3) % 40) / 10,
  2 + ((r * 5 + k) % 20) / 10,
  1 + ((r * 11 + k * 5) % 60) / 10,
  0.1 + ((r * 3 + k * 7) % 25) / 10,
];

/** 48 valid clients of 1 to 4 rows, with 0-row and odd-shaped requests between them. */
function clients(): Client[] {
  const out: Client[] = [];
  for (let r = 0; r < 48; r++) {
    const rows = Array.from({ length: 1 + (r % 4) }, (_, k) => flower(r, k));
    out.push({ body: fp32([rows.length, 4], rows.flat()), rows });
    if (r % 4 === 0) out.push({ body: fp32([0, 4], []), rows: undefined });
    if (r % 6 === 1) out.push({ body: fp32([1, 3], [1, 2, 3]), rows: undefined });
    if (r % 6 === 3) out.push({ body: fp32([4], [1, 2, 3, 4]), rows: undefined });
    if (r % 8 === 5) out.push({ body: fp32([2, 0], []), rows: undefined });
  }
  return out;
}

/** What onnxruntime gives in-process for these rows alone. */
async function alone(model: string, rows: number[][]): Promise<V2Output[]> {
  const session = sessions[model] as ort.InferenceSession;
  const result = await session.run({
    float_input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]),
  });
  return session.outputNames.map((name) => {
    const t = result[name] as ort.Tensor;
    return { name, shape: [...t.dims], datatype: 'FP32', data: Array.from(t.data as Float32Array) };
  });
}

/** Sends every client at once and checks each answer against its own input's in-process result. */
async function checkAll(server: RunningServer, model: string): Promise<void> {
  const all = clients();
  const replies = await Promise.all(
    all.map((c) => postJson(`${server.url}/v2/models/${model}/infer`, c.body)),
  );
  for (const [i, client] of all.entries()) {
    const reply = replies[i] as JsonReply;
    if (client.rows === undefined) {
      expect({ i, status: reply.status, body: reply.body }).toEqual({
        i,
        status: 400,
        body: { error: expect.any(String) },
      });
      continue;
    }
    expect({ i, status: reply.status }).toEqual({ i, status: 200 });
    const got = (reply.body as { outputs: V2Output[] }).outputs;
    const want = await alone(model, client.rows);
    expect(got.map((o) => [o.name, o.shape])).toEqual(want.map((o) => [o.name, o.shape]));
    got.forEach((o, j) => {
      const w = (want[j] as V2Output).data;
      o.data.forEach((v, k) => expect(Math.abs(v - (w[k] as number))).toBeLessThan(1e-5));
    });
  }
}

describe('requests never share data', () => {
  it('a 0-row v2 request gets a 400 naming the batch dimension, without running', async () => {
    const reply = await postJson(`${tensor.url}/v2/models/tensor/infer`, fp32([0, 4], []));
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({ error: expect.stringMatching(/batch \(first\) dimension .* is 0/) });
  });

  it('row-wise model: concurrent clients with 0-row and odd-shaped requests each get their own rows', async () => {
    await checkAll(tensor, 'tensor');
  });

  it('a fast model runs on the HTTP thread, and on the inference thread with INLINE_INFERENCE_MS=0', () => {
    const ready = (server: RunningServer) =>
      JSON.parse(
        server.service
          .output()
          .split('\n')
          .find((l) => l.includes('"msg":"ready"')) ?? '{}',
      ) as {
        inferenceOn?: string;
        oneTextMs?: number;
        maxPadding?: number;
        paddingBudget?: string;
      };
    expect(ready(tensor)).toMatchObject({ inferenceOn: 'HTTP thread', oneTextMs: expect.any(Number) });
    expect(ready(tensorOnThread)).toMatchObject({ inferenceOn: 'inference thread' });
    // A text model on the HTTP thread may also pad up to a budget timed at start; tensors are never padded.
    expect(ready(sentiment)).toMatchObject({
      maxPadding: 0.2,
      paddingBudget: expect.stringMatching(/^(\d+ tokens|any)$/),
    });
    expect(ready(tensor)).toMatchObject({ maxPadding: 0.2 });
    expect(ready(tensor).paddingBudget).toBeUndefined();
  });

  it('on the inference thread too: concurrent clients each get their own rows', async () => {
    await checkAll(tensorOnThread, 'tensor');
  });

  it('texts of mixed lengths batched on the HTTP thread get the scores each gets alone', async () => {
    const words = 'great awful product service love hate quick slow food cold warm fine'.split(' ');
    const texts = Array.from({ length: 40 }, (_, i) =>
      Array.from({ length: 2 + ((i * 7) % 30) }, (_, k) => words[(i + k * 5) % words.length]).join(' '),
    );
    const url = `${sentiment.url}/predict`;
    const alone: JsonReply[] = [];
    for (const t of texts) alone.push(await postJson(url, [t]));
    const before = await (await fetch(`${sentiment.url}/metrics`)).text();
    const together = await Promise.all(texts.map((t) => postJson(url, [t])));
    const after = await (await fetch(`${sentiment.url}/metrics`)).text();
    const calls =
      metricValue(after, 'inference_batch_size_count') - metricValue(before, 'inference_batch_size_count');
    // They did share batches (fewer inference calls than texts).
    expect(calls).toBeLessThan(texts.length);
    together.forEach((reply, i) => {
      const got = reply.body as { predictions: { label: string; score: number }[] };
      const want = (alone[i] as JsonReply).body as typeof got;
      expect(got.predictions[0]?.label).toBe(want.predictions[0]?.label);
      expect(Math.abs((got.predictions[0]?.score ?? 0) - (want.predictions[0]?.score ?? 1))).toBeLessThan(
        1e-5,
      );
    });
  });

  it('an output pooled over the batch (declared [1, 3]) is never shared: each request runs alone', async () => {
    await checkAll(pooled, 'pooled');
  });

  it('an output that turns out not to split into rows is never shared (detected on a real batch)', async () => {
    await checkAll(head, 'head');
    // The server stays correct afterwards too.
    await checkAll(head, 'head');
  });

  it("one request's values that onnxruntime rejects fail that request alone (400), not its batch", async () => {
    // Raw token tensors of one shape share a batch key: the bad row is batched with the valid ones.
    const ids = (data: number[]) => ({
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [1, 2], data },
        { name: 'attention_mask', datatype: 'INT64', shape: [1, 2], data: [1, 1] },
      ],
    });
    const valid = [ids([0, 5]), ids([0, 17]), ids([0, 42])];
    const bad = ids([0, 99999999]);
    const url = `${sentiment.url}/v2/models/sentiment/infer`;
    const expected = await Promise.all(valid.map((body) => postJson(url, body)));
    const mixed = await Promise.all(
      Array.from({ length: 4 }, () => [
        postJson(url, bad),
        ...valid.map((body) => postJson(url, body)),
      ]).flat(),
    );
    mixed.forEach((reply, i) => {
      if (i % 4 === 0) {
        expect(reply.status).toBe(400);
        expect(reply.body).toEqual({
          error: expect.stringMatching(/^the model cannot run on this input \(onnxruntime: .*Gather/),
        });
      } else {
        expect(reply.status).toBe(200);
        expect(reply.body).toEqual((expected[(i % 4) - 1] as JsonReply).body);
      }
    });
    expect((await request(`${sentiment.url}/v2/health/ready`)).status).toBe(200);
  });
});
