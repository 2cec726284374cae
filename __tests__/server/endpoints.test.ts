/**
 * Every endpoint of the shipped server bundle over the three test models (sentiment text model,
 * roberta-9 look-alike with one int64 input, tensor-only model), over real HTTP on loopback.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Tokenizer } from '@huggingface/tokenizers';
import { fixtureModels } from '../fixtures/models.js';
import { metricValue, postJson, request, startServer, type RunningServer } from './helpers.js';

const run = promisify(execFile);

interface Prediction {
  label: string;
  score: number;
  positive?: boolean;
}
interface PredictReply {
  positive?: boolean;
  predictions: Prediction[];
}
interface V2Tensor {
  name: string;
  shape: number[];
  datatype: string;
  data: unknown[];
}

let sentiment: RunningServer;
let roberta9: RunningServer;
let tensor: RunningServer;

beforeAll(async () => {
  const models = await fixtureModels();
  [sentiment, roberta9, tensor] = await Promise.all([
    startServer(models.sentiment, { MODEL_VERSION: '3', WORKERS: '2', INTRA_OP_THREADS: '1' }),
    startServer(models.roberta9, { MAX_SEQUENCE_LENGTH: '16' }),
    startServer(models.tensor),
  ]);
});

afterAll(async () => {
  await Promise.all([sentiment?.stop(), roberta9?.stop(), tensor?.stop()]);
});

const TEXTS = [
  'I love this',
  'This is terrible',
  'MLOps is critical for robustness',
  'Espresso is too strong',
  'The support team was wonderful, friendly and quick to fix everything that was broken',
];

describe('original /predict contract', () => {
  // The original README's curl commands, verbatim apart from host and port, with the real curl binary.
  async function curl(args: string[]): Promise<PredictReply> {
    const { stdout } = await run('curl', ['-s', '--fail-with-body', ...args]);
    return JSON.parse(stdout) as PredictReply;
  }

  it('answers curl with -H "Content-Type: application/json"', async () => {
    const reply = await curl([
      '-X',
      'POST',
      '-H',
      'Content-Type: application/json',
      '--data',
      '["MLOps is critical for robustness"]',
      `${sentiment.url}/predict`,
    ]);
    expect(reply.positive).toBe(true);
    expect(reply.predictions).toHaveLength(1);
    expect(reply.predictions[0]?.label).toBe('POSITIVE');
    expect(reply.predictions[0]?.score).toBeCloseTo(0.6390927, 5);
  });

  it('answers curl without -H (curl sends a form content type)', async () => {
    const reply = await curl([
      '-X',
      'POST',
      '--data',
      '["MLOps is critical for robustness"]',
      `${sentiment.url}/predict`,
    ]);
    expect(reply.positive).toBe(true);
    expect(reply.predictions[0]?.score).toBeCloseTo(0.6390927, 5);
  });

  it('answers curl with -H "Content-Type: application/JSON" for another sentence', async () => {
    const reply = await curl([
      '-X',
      'POST',
      '-H',
      'Content-Type: application/JSON',
      '--data',
      '["Espresso is too strong"]',
      `${sentiment.url}/predict`,
    ]);
    expect(reply).toEqual({
      positive: true,
      predictions: [{ label: 'POSITIVE', score: expect.any(Number), positive: true }],
    });
  });

  it('labels clear sentences correctly, first text decides "positive", with timing headers', async () => {
    const reply = await postJson(`${sentiment.url}/predict`, ['This is terrible', 'I love this']);
    expect(reply.status).toBe(200);
    const body = reply.body as PredictReply;
    expect(body.positive).toBe(false);
    expect(body.predictions.map((p) => [p.label, p.positive])).toEqual([
      ['NEGATIVE', false],
      ['POSITIVE', true],
    ]);
    // Milliseconds with three decimals; a missing header fails here (it is null, not a number).
    const timing = Object.fromEntries(
      ['x-queue-time', 'x-inference-time', 'x-tokenization-time'].map((h) => [h, reply.headers.get(h)]),
    );
    expect(timing).toEqual({
      'x-queue-time': expect.stringMatching(/^\d+\.\d{3}$/),
      'x-inference-time': expect.stringMatching(/^\d+\.\d{3}$/),
      'x-tokenization-time': expect.stringMatching(/^\d+\.\d{3}$/),
    });
    // Two texts really ran through ONNX Runtime: its time is not zero.
    expect(Number(timing['x-inference-time'])).toBeGreaterThan(0);
    expect(reply.headers.get('x-request-id')).toMatch(/[0-9a-f-]{36}/);
  });

  it('echoes a caller-chosen x-request-id', async () => {
    const reply = await postJson(`${sentiment.url}/predict`, ['I love this'], { 'x-request-id': 'trace-42' });
    expect(reply.headers.get('x-request-id')).toBe('trace-42');
  });

  it.each([
    ['sentiment', () => sentiment],
    ['roberta9 (no attention mask: only equal lengths may share a batch)', () => roberta9],
  ])('%s: a batch answers exactly as each text alone', async (_name, server) => {
    const url = `${server().url}/predict`;
    const batch = ((await postJson(url, TEXTS)).body as PredictReply).predictions;
    const singles = await Promise.all(
      TEXTS.map(async (t) => ((await postJson(url, [t])).body as PredictReply).predictions[0] as Prediction),
    );
    expect(batch).toHaveLength(TEXTS.length);
    batch.forEach((p, i) => {
      expect(p.label).toBe(singles[i]?.label);
      expect(p.score).toBeCloseTo(singles[i]?.score as number, 6);
    });
  });

  it('accepts the Hugging Face shape and replies sorted scores, top_k honoured', async () => {
    const one = await postJson(`${sentiment.url}/predict`, { inputs: 'I love this' });
    expect(one.status).toBe(200);
    // As the Hub answers: one list per input inside an outer list, even for a single string.
    const scores = (one.body as Prediction[][])[0] as Prediction[];
    expect(scores.map((s) => s.label)).toEqual(['POSITIVE', 'NEGATIVE']);
    expect((scores[0]?.score ?? 0) + (scores[1]?.score ?? 0)).toBeCloseTo(1, 6);
    const many = await postJson(`${sentiment.url}/predict`, {
      inputs: ['I love this', 'This is terrible'],
      parameters: { top_k: 1 },
    });
    expect(many.body).toEqual([
      [{ label: 'POSITIVE', score: expect.any(Number) }],
      [{ label: 'NEGATIVE', score: expect.any(Number) }],
    ]);
  });

  it('roberta9: labels default to LABEL_i; class 1 is positive', async () => {
    const reply = await postJson(`${roberta9.url}/predict`, ['I love this', 'This is terrible']);
    expect(reply.body).toEqual({
      positive: true,
      predictions: [
        { label: 'LABEL_1', score: expect.any(Number), positive: true },
        { label: 'LABEL_0', score: expect.any(Number), positive: false },
      ],
    });
  });

  it('truncates long texts to the maximum length keeping the final special token, and counts them', async () => {
    // MAX_SEQUENCE_LENGTH=16 on roberta9: the long text is cut to 16 tokens and still answered.
    const long = `This is terrible. ${'I love this and it is wonderful. '.repeat(40)}`;
    const before = metricValue(
      await (await fetch(`${roberta9.url}/metrics`)).text(),
      'input_truncated_total',
    );
    const reply = await postJson(`${roberta9.url}/predict`, [long, 'This is terrible.']);
    expect(reply.status).toBe(200);
    const [cut, short] = (reply.body as PredictReply).predictions;
    expect(cut?.label).toBe('LABEL_1');
    expect(short?.label).toBe('LABEL_0');
    const v2 = await postJson(`${roberta9.url}/v2/models/roberta9/infer`, {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [long] }],
    });
    expect((v2.body as { outputs: V2Tensor[] }).outputs[0]?.shape).toEqual([1, 2]);
    const metrics = await (await fetch(`${roberta9.url}/metrics`)).text();
    expect(metricValue(metrics, 'input_truncated_total') - before).toBe(2);
    expect(metricValue(metrics, 'input_tokens_bucket', { le: '16' })).toBeGreaterThanOrEqual(3);
  });

  it('tensor model: /predict explains where tensors go', async () => {
    const reply = await postJson(`${tensor.url}/predict`, ['hello']);
    expect(reply.status).toBe(400);
    expect((reply.body as { error: string }).error).toMatch(/v2\/models\/tensor\/infer/);
  });
});

describe('Open Inference Protocol v2', () => {
  it('server metadata and health', async () => {
    expect((await request(`${sentiment.url}/v2`)).body).toMatchObject({ name: 'onnx-inference-server' });
    for (const server of [sentiment, roberta9, tensor]) {
      expect(await request(`${server.url}/v2/health/live`)).toMatchObject({
        status: 200,
        body: { live: true },
      });
      expect(await request(`${server.url}/v2/health/ready`)).toMatchObject({
        status: 200,
        body: { ready: true },
      });
    }
  });

  it('model metadata with -1 for dynamic dims, by name and by version', async () => {
    const meta = await request(`${sentiment.url}/v2/models/sentiment`);
    expect(meta.body).toMatchObject({
      name: 'sentiment',
      versions: ['3'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [-1, -1] },
        { name: 'attention_mask', datatype: 'INT64', shape: [-1, -1] },
      ],
      outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 2] }],
    });
    expect((await request(`${sentiment.url}/v2/models/sentiment/versions/3`)).body).toEqual(meta.body);
    expect((await request(`${roberta9.url}/v2/models/roberta9`)).body).toMatchObject({
      inputs: [{ name: 'input', datatype: 'INT64', shape: [-1, -1] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 2] }],
    });
    expect((await request(`${tensor.url}/v2/models/tensor`)).body).toMatchObject({
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }],
      parameters: { text: false },
    });
  });

  it('model readiness; unknown model or version -> 404 JSON', async () => {
    expect(await request(`${tensor.url}/v2/models/tensor/ready`)).toMatchObject({
      status: 200,
      body: { ready: true },
    });
    expect((await request(`${sentiment.url}/v2/models/sentiment/versions/3/ready`)).status).toBe(200);
    const unknown = await request(`${tensor.url}/v2/models/other`);
    expect(unknown.status).toBe(404);
    expect((unknown.body as { error: string }).error).toMatch(/'other' not found/);
    expect((await request(`${sentiment.url}/v2/models/sentiment/versions/9`)).status).toBe(404);
    expect((await request(`${sentiment.url}/v2/models/sentiment/versions/9/ready`)).status).toBe(404);
  });

  it('tensor model: a zero tensor built from the metadata, and iris-like rows, flat or nested', async () => {
    const meta = (await request(`${tensor.url}/v2/models/tensor`)).body as { inputs: V2Tensor[] };
    const inputs = meta.inputs.map((i) => {
      const shape = i.shape.map((d) => (d < 0 ? 1 : d));
      return {
        name: i.name,
        datatype: i.datatype,
        shape,
        data: new Array(shape.reduce((a, b) => a * b, 1)).fill(0),
      };
    });
    const zero = await postJson(`${tensor.url}/v2/models/tensor/infer`, { id: 'smoke-1', inputs });
    expect(zero.status).toBe(200);
    expect(zero.body).toMatchObject({
      model_name: 'tensor',
      model_version: '1',
      id: 'smoke-1',
      outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, 3] }],
    });
    const rows = [
      [5.1, 3.5, 1.4, 0.2],
      [6.7, 3.0, 5.2, 2.3],
    ];
    const nested = await postJson(`${tensor.url}/v2/models/tensor/infer`, {
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [2, 4], data: rows }],
    });
    const flat = await postJson(`${tensor.url}/v2/models/tensor/versions/1/infer`, {
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [2, 4], data: rows.flat() }],
    });
    const out = (nested.body as { outputs: V2Tensor[] }).outputs[0] as V2Tensor;
    expect(out.shape).toEqual([2, 3]);
    expect((flat.body as { outputs: V2Tensor[] }).outputs[0]?.data).toEqual(out.data);
    const probs = out.data as number[];
    // Each row is a probability distribution; setosa-like row -> class 0, virginica-like -> class 2.
    expect((probs[0] ?? 0) + (probs[1] ?? 0) + (probs[2] ?? 0)).toBeCloseTo(1, 5);
    expect(probs.slice(0, 3).indexOf(Math.max(...probs.slice(0, 3)))).toBe(0);
    expect(probs.slice(3).indexOf(Math.max(...probs.slice(3)))).toBe(2);
  });

  it('text model: raw token tensors and a BYTES input give the same logits; outputs filter honoured', async () => {
    const text = await postJson(`${sentiment.url}/v2/models/sentiment/infer`, {
      inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['I love this'] }],
      outputs: [{ name: 'logits' }],
    });
    expect(text.status).toBe(200);
    const logits = (text.body as { outputs: V2Tensor[] }).outputs;
    expect(logits.map((o) => [o.name, o.shape, o.datatype])).toEqual([['logits', [1, 2], 'FP32']]);
    // The same text tokenized by the test with the model's own tokenizer, sent as raw tensors.
    const dir = (await fixtureModels()).sentiment;
    const tokenizer = new Tokenizer(
      JSON.parse(await readFile(join(dir, 'tokenizer.json'), 'utf8')) as object,
      JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8')) as object,
    );
    const ids = tokenizer.encode('I love this').ids;
    expect(ids[0]).toBe(0);
    expect(ids[ids.length - 1]).toBe(2);
    const raw = await postJson(`${sentiment.url}/v2/models/sentiment/infer`, {
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [1, ids.length], data: ids },
        { name: 'attention_mask', datatype: 'INT64', shape: [1, ids.length], data: ids.map(() => 1) },
      ],
    });
    expect(raw.status).toBe(200);
    expect((raw.body as { outputs: V2Tensor[] }).outputs).toEqual(logits);
    expect(raw.headers.get('x-inference-time')).not.toBeNull();
  });
  it('tensors onnxruntime cannot run answer 400 JSON without a stack trace, server stays up', async () => {
    const reply = await postJson(`${sentiment.url}/v2/models/sentiment/infer`, {
      inputs: [
        { name: 'input_ids', datatype: 'INT64', shape: [1, 2], data: [0, 99999999] },
        { name: 'attention_mask', datatype: 'INT64', shape: [1, 2], data: [1, 1] },
      ],
    });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      error: expect.stringMatching(/^the model cannot run on this input \(onnxruntime: .*Gather/),
    });
    expect(reply.text).not.toMatch(/\n\s+at /);
    expect((await postJson(`${sentiment.url}/predict`, ['I love this'])).status).toBe(200);
  });
});

describe('KServe v1', () => {
  it('lists and describes the model', async () => {
    expect((await request(`${sentiment.url}/v1/models`)).body).toEqual({ models: ['sentiment'] });
    expect((await request(`${sentiment.url}/v1/models/sentiment`)).body).toEqual({
      name: 'sentiment',
      ready: true,
    });
    expect((await request(`${sentiment.url}/v1/models/nope`)).status).toBe(404);
  });

  it('predicts text instances and tensor rows', async () => {
    const text = await postJson(`${sentiment.url}/v1/models/sentiment:predict`, {
      instances: ['I love this', 'This is terrible'],
    });
    expect(text.body).toEqual({
      predictions: [
        { label: 'POSITIVE', score: expect.any(Number), positive: true },
        { label: 'NEGATIVE', score: expect.any(Number), positive: false },
      ],
    });
    const rows = await postJson(`${tensor.url}/v1/models/tensor:predict`, {
      instances: [
        [5.1, 3.5, 1.4, 0.2],
        [6.7, 3.0, 5.2, 2.3],
      ],
    });
    const predictions = (rows.body as { predictions: number[][] }).predictions;
    expect(predictions).toHaveLength(2);
    expect(predictions[0]).toHaveLength(3);
    const v2 = await postJson(`${tensor.url}/v2/models/tensor/infer`, {
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 4], data: [6.7, 3.0, 5.2, 2.3] }],
    });
    expect(predictions[1]).toEqual((v2.body as { outputs: V2Tensor[] }).outputs[0]?.data);
    const wrong = await postJson(`${tensor.url}/v1/models/other:predict`, { instances: [[1, 2, 3, 4]] });
    expect(wrong.status).toBe(404);
  });
});

describe('service endpoints', () => {
  it('GET / says what is served and how to call it', async () => {
    expect((await request(`${sentiment.url}/`)).body).toMatchObject({
      name: 'sentiment',
      version: '3',
      text: true,
      labels: ['NEGATIVE', 'POSITIVE'],
      example: expect.stringContaining(
        `--data '["MLOps is critical for robustness"]' ${sentiment.url}/predict`,
      ),
    });
    expect((await request(`${roberta9.url}/`)).body).toMatchObject({
      name: 'roberta9',
      text: true,
      labels: ['LABEL_0', 'LABEL_1'],
      max_sequence_length: 16,
    });
    const t = (await request(`${tensor.url}/`)).body as { text: boolean; labels: unknown; example: string };
    expect(t).toMatchObject({ name: 'tensor', version: '1', text: false, labels: null });
    expect(t.example).toContain('/v2/models/tensor/infer');
  });

  it('logs one JSON line per request with its request id, and never the request body', async () => {
    const secret = 'my password is hunter2-do-not-log';
    await postJson(`${sentiment.url}/predict`, [secret], { 'x-request-id': 'log-check-1' });
    await new Promise((r) => setTimeout(r, 200));
    const out = sentiment.service.output();
    expect(out).not.toContain('hunter2');
    const line = out.split('\n').find((l) => l.includes('"requestId":"log-check-1"'));
    expect(JSON.parse(line as string)).toMatchObject({ route: '/predict', status: 200, msg: 'request' });
  });

  it('GET /openapi.json documents every route', async () => {
    const doc = (await request(`${tensor.url}/openapi.json`)).body as { openapi: string; paths: object };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/predict',
        '/tei/predict',
        '/v2/health/ready',
        '/v2/models/{name}/infer',
        '/v1/models/{name}:predict',
        '/metrics',
      ]),
    );
  });

  it('GET /metrics exposes serving and drift metrics', async () => {
    await postJson(`${sentiment.url}/predict`, ['I love this', 'This is terrible', 'I love this']);
    const res = await fetch(`${sentiment.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(metricValue(text, 'http_requests_total', { route: '/predict', status: '200' })).toBeGreaterThan(0);
    expect(metricValue(text, 'predictions_total', { label: 'POSITIVE' })).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'predictions_total', { label: 'NEGATIVE' })).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, 'prediction_score_count', { label: 'POSITIVE' })).toBeGreaterThanOrEqual(2);
    expect(metricValue(text, 'input_tokens_count')).toBeGreaterThanOrEqual(3);
    expect(metricValue(text, 'model_load_seconds')).toBeGreaterThan(0);
    // WORKERS=2 still means one session (one copy of the weights) in one inference thread.
    expect(metricValue(text, 'inference_workers')).toBe(1);
    for (const name of [
      'http_request_duration_seconds_count',
      'inference_queue_wait_seconds_count',
      'tokenization_seconds_count',
      'inference_seconds_count',
      'inference_batch_size_count',
      'inference_queue_depth',
    ]) {
      expect(metricValue(text, name)).toBeGreaterThanOrEqual(0);
    }
  });
});
