/**
 * The Hugging Face shapes of /predict, called the way users call them: Hugging Face's own JavaScript
 * client (`@huggingface/inference`, which reads the Hub's answer as one list per input inside an outer
 * list) against the shipped bundle, and Text Embeddings Inference's /predict shape on /tei/predict.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { InferenceClient } from '@huggingface/inference';
import { fixtureModels } from '../fixtures/models.js';
import { postJson, startServer, type RunningServer } from './helpers.js';

interface LabelScore {
  label: string;
  score: number;
}
interface PredictReply {
  positive: boolean;
  predictions: LabelScore[];
}

let server: RunningServer;
let client: InferenceClient;

beforeAll(async () => {
  server = await startServer((await fixtureModels()).sentiment);
  client = new InferenceClient().endpoint(`${server.url}/predict`);
});

afterAll(async () => {
  await server?.stop();
});

const TEXTS = [
  'I love this',
  'This is terrible',
  'MLOps is critical for robustness',
  'Espresso is too strong',
];

/** The model's logits for a text, from the v2 protocol (independent of the /predict code path). */
async function logits(text: string): Promise<number[]> {
  const reply = await postJson(`${server.url}/v2/models/sentiment/infer`, {
    inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: [text] }],
  });
  return (reply.body as { outputs: { data: number[] }[] }).outputs[0]?.data as number[];
}

/** The Hub's answer for one text computed in the test: every label, best first. */
function expected(values: number[], fn: 'softmax' | 'sigmoid' | 'none'): LabelScore[] {
  const labels = ['NEGATIVE', 'POSITIVE'];
  let scores = values;
  if (fn === 'sigmoid') scores = values.map((v) => 1 / (1 + Math.exp(-v)));
  if (fn === 'softmax') {
    const e = values.map((v) => Math.exp(v - Math.max(...values)));
    scores = e.map((v) => v / e.reduce((a, b) => a + b, 0));
  }
  return scores.map((score, i) => ({ label: labels[i] as string, score })).sort((a, b) => b.score - a.score);
}

function expectScores(actual: LabelScore[], wanted: LabelScore[]): void {
  expect(actual.map((s) => s.label)).toEqual(wanted.map((s) => s.label));
  actual.forEach((s, i) => expect(s.score).toBeCloseTo(wanted[i]?.score as number, 5));
}

describe('@huggingface/inference against /predict', () => {
  it('classifies one text: every label, best first, softmax scores', async () => {
    const answer = await client.textClassification({ inputs: 'I love this' });
    expectScores(answer, expected(await logits('I love this'), 'softmax'));
    // The same prediction as the original contract.
    const original = (await postJson(`${server.url}/predict`, ['I love this'])).body as PredictReply;
    expect(answer[0]?.label).toBe(original.predictions[0]?.label);
    expect(answer[0]?.score).toBeCloseTo(original.predictions[0]?.score as number, 6);
  });

  it('classifies several texts, one call each (the client types inputs as one string)', async () => {
    const answers = await Promise.all(TEXTS.map((inputs) => client.textClassification({ inputs })));
    const wanted = await Promise.all(TEXTS.map(async (t) => expected(await logits(t), 'softmax')));
    answers.forEach((a, i) => expectScores(a, wanted[i] as LabelScore[]));
    expect(answers.map((a) => a[0]?.label)).toEqual(['POSITIVE', 'NEGATIVE', 'POSITIVE', 'POSITIVE']);
  });

  it('honours parameters.top_k', async () => {
    const top1 = await client.textClassification({ inputs: 'This is terrible', parameters: { top_k: 1 } });
    expectScores(top1, expected(await logits('This is terrible'), 'softmax').slice(0, 1));
    const top5 = await client.textClassification({ inputs: 'This is terrible', parameters: { top_k: 5 } });
    expect(top5).toHaveLength(2);
  });

  it.each(['sigmoid', 'softmax', 'none'] as const)(
    'honours parameters.function_to_apply = %s',
    async (fn) => {
      const text = 'Espresso is too strong';
      const answer = await client.textClassification({ inputs: text, parameters: { function_to_apply: fn } });
      expectScores(answer, expected(await logits(text), fn));
    },
  );
});

describe('the Hub shape over plain HTTP', () => {
  it('answers a list of texts with one list per text, in order', async () => {
    const reply = await postJson(`${server.url}/predict`, { inputs: TEXTS, parameters: { top_k: 1 } });
    expect(reply.status).toBe(200);
    const wanted = await Promise.all(
      TEXTS.map(async (t) => expected(await logits(t), 'softmax').slice(0, 1)),
    );
    const body = reply.body as LabelScore[][];
    expect(body).toHaveLength(TEXTS.length);
    body.forEach((list, i) => expectScores(list, wanted[i] as LabelScore[]));
  });

  it('answers a single string inside an outer list', async () => {
    const reply = await postJson(`${server.url}/predict`, { inputs: 'I love this' });
    expect(reply.body).toEqual([
      [
        { label: 'POSITIVE', score: expect.any(Number) },
        { label: 'NEGATIVE', score: expect.any(Number) },
      ],
    ]);
  });

  it.each([
    [
      { inputs: 'hi', parameters: { function_to_apply: 'relu' } },
      /function_to_apply must be one of "sigmoid", "softmax", "none", got "relu"/,
    ],
    [{ inputs: 'hi', parameters: { top_k: 1.5 } }, /top_k must be a positive integer, got 1.5/],
    [{ inputs: 'hi', parameters: { top_k: 0 } }, /top_k must be a positive integer/],
  ])('refuses bad parameters with a 400 naming them: %j', async (body, message) => {
    const reply = await postJson(`${server.url}/predict`, body);
    expect(reply.status).toBe(400);
    expect((reply.body as { error: string }).error).toMatch(message);
  });

  it('leaves the original contract exactly as it was', async () => {
    const reply = await postJson(`${server.url}/predict`, ['MLOps is critical for robustness']);
    expect(reply.body).toEqual({
      positive: true,
      predictions: [{ label: 'POSITIVE', score: expect.any(Number), positive: true }],
    });
    expect((reply.body as PredictReply).predictions[0]?.score).toBeCloseTo(0.6390927, 5);
  });
});

describe('Text Embeddings Inference shape on /tei/predict', () => {
  it('answers one text with the list alone, a batch with a list per text', async () => {
    const one = await postJson(`${server.url}/tei/predict`, { inputs: 'I love this' });
    expect(one.status).toBe(200);
    expectScores(one.body as LabelScore[], expected(await logits('I love this'), 'softmax'));
    const batch = await postJson(`${server.url}/tei/predict`, { inputs: TEXTS.map((t) => [t]) });
    const wanted = await Promise.all(TEXTS.map(async (t) => expected(await logits(t), 'softmax')));
    const lists = batch.body as LabelScore[][];
    expect(lists).toHaveLength(TEXTS.length);
    lists.forEach((list, i) => expectScores(list, wanted[i] as LabelScore[]));
  });

  it('raw_scores answers the logits', async () => {
    const reply = await postJson(`${server.url}/tei/predict`, {
      inputs: ['This is terrible'],
      raw_scores: true,
    });
    expectScores(reply.body as LabelScore[], expected(await logits('This is terrible'), 'none'));
  });

  it('refuses text pairs with a 400 that says so', async () => {
    for (const inputs of [['a question', 'an answer'], [['a question', 'an answer']]]) {
      const reply = await postJson(`${server.url}/tei/predict`, { inputs });
      expect(reply.status).toBe(400);
      expect((reply.body as { error: string }).error).toMatch(/text pairs .* are not supported/);
    }
  });
});
