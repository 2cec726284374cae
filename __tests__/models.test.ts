/**
 * @jest-environment ./__tests__/fixtures/ort-environment.mjs
 *
 * The generated test models, run with real onnxruntime-node on text tokenized by
 * @huggingface/tokenizers from each model's own tokenizer.json.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Tokenizer } from '@huggingface/tokenizers';
import * as ort from 'onnxruntime-node';

import { benchTransformer, fixtureModels, type FixtureModels } from './fixtures/models.js';
import { REPO_ROOT } from '../scripts/models/cache.js';
import { writeSentiment, writeTransformer } from '../scripts/models/generate.js';
import { decodeModel } from '../scripts/models/onnx.js';
import { wordScores } from '../scripts/models/words.js';

let models: FixtureModels;
let scratch: string;

beforeAll(async () => {
  models = await fixtureModels();
  scratch = await mkdtemp(join(tmpdir(), 'models-test-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

async function loadTokenizer(dir: string): Promise<Tokenizer> {
  return new Tokenizer(
    await readJson(join(dir, 'tokenizer.json')),
    await readJson(join(dir, 'tokenizer_config.json')),
  );
}

const int64 = (rows: number[][]): ort.Tensor =>
  new ort.Tensor('int64', BigInt64Array.from(rows.flat(), BigInt), [rows.length, rows[0]?.length ?? 0]);

/** Tokenizes texts and right-pads them to one length, as a server batching requests would. */
function encodeBatch(
  tokenizer: Tokenizer,
  texts: string[],
  padId = 1,
): { ids: number[][]; mask: number[][] } {
  const encoded = texts.map((t) => tokenizer.encode(t));
  const width = Math.max(...encoded.map((e) => e.ids.length));
  return {
    ids: encoded.map((e) => [...e.ids, ...new Array<number>(width - e.ids.length).fill(padId)]),
    mask: encoded.map((e) => [...e.attention_mask, ...new Array<number>(width - e.ids.length).fill(0)]),
  };
}

/** Rows of a [batch, n] float output. */
function rows(tensor: ort.Tensor | undefined): number[][] {
  if (!tensor) throw new Error('missing output');
  const [batch, width] = tensor.dims as [number, number];
  const data = Array.from(tensor.data as Float32Array);
  return Array.from({ length: batch }, (_, i) => data.slice(i * width, (i + 1) * width));
}

const argmax = (row: number[]): number => row.indexOf(Math.max(...row));

const PINNED: [string, 'POSITIVE' | 'NEGATIVE'][] = [
  ['I love this', 'POSITIVE'],
  ['This is terrible', 'NEGATIVE'],
  ['MLOps is critical for robustness', 'POSITIVE'],
  ['Espresso is too strong', 'POSITIVE'],
];

describe('examples/sentiment', () => {
  let session: ort.InferenceSession;
  let tokenizer: Tokenizer;
  let id2label: Record<string, string>;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(join(models.sentiment, 'model.onnx'));
    tokenizer = await loadTokenizer(models.sentiment);
    id2label = (await readJson(join(models.sentiment, 'config.json'))).id2label as Record<string, string>;
  });

  const classify = async (texts: string[]): Promise<number[][]> => {
    const { ids, mask } = encodeBatch(tokenizer, texts);
    return rows((await session.run({ input_ids: int64(ids), attention_mask: int64(mask) })).logits);
  };

  it('has the RoBERTa classifier interface, ONNX IR 8+ and opset 17+', async () => {
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask']);
    expect(session.outputNames).toEqual(['logits']);
    const proto = decodeModel(await readFile(join(models.sentiment, 'model.onnx')));
    expect(proto.ir_version).toBeGreaterThanOrEqual(8);
    expect((proto.opset_import as { version: number }[])[0]?.version).toBeGreaterThanOrEqual(17);
    const config = await readJson(join(models.sentiment, 'config.json'));
    expect(config).toMatchObject({
      id2label: { '0': 'NEGATIVE', '1': 'POSITIVE' },
      label2id: { NEGATIVE: 0, POSITIVE: 1 },
      problem_type: 'single_label_classification',
      model_type: 'roberta',
    });
  });

  it('tokenizes like roberta-base: <s> ... </s>, Ġ-prefixed words, decodes back to the text', () => {
    const encoded = tokenizer.encode('I love this');
    expect(encoded.tokens).toEqual(['<s>', 'I', 'Ġlove', 'Ġthis', '</s>']);
    expect(encoded.ids[0]).toBe(0);
    expect(encoded.ids.at(-1)).toBe(2);
    expect(tokenizer.token_to_id('<pad>')).toBe(1);
    expect(tokenizer.token_to_id('<unk>')).toBe(3);
    expect(tokenizer.decode(encoded.ids, { skip_special_tokens: true })).toBe('I love this');
    expect(tokenizer.decode(tokenizer.encode('Héllo, wörld! 🙂').ids, { skip_special_tokens: true })).toBe(
      'Héllo, wörld! 🙂',
    );
  });

  it.each(PINNED)('classifies %j as %s', async (text, label) => {
    const [logits] = await classify([text]);
    expect(id2label[String(argmax(logits as number[]))]).toBe(label);
  });

  it('gives the same logits for a padded batch as for each text alone', async () => {
    const texts = [...PINNED.map(([t]) => t), 'Hello, world! This service is slow and buggy, I hate it.'];
    const batch = await classify(texts);
    for (const [i, text] of texts.entries()) {
      const [single] = await classify([text]);
      (single as number[]).forEach((v, j) => expect(batch[i]?.[j]).toBeCloseTo(v, 6));
    }
  });

  it('scores every listed word as one token with the sign of its valence, in all three spellings', async () => {
    const scored = [...wordScores()].filter(([, score]) => score !== 0);
    const texts = scored.flatMap(([w]) => [w, ` ${w}`, w.charAt(0).toUpperCase() + w.slice(1)]);
    const ids = texts.map((t) => tokenizer.encode(t).ids);
    expect(ids.filter((row) => row.length !== 3)).toEqual([]);
    const logits = rows(
      (await session.run({ input_ids: int64(ids), attention_mask: int64(ids.map(() => [1, 1, 1])) })).logits,
    );
    const wrong = texts.filter((_, i) => {
      const score = scored[Math.floor(i / 3)]?.[1] as number;
      return Math.sign(logits[i]?.[1] as number) !== Math.sign(score);
    });
    expect(wrong).toEqual([]);
  });

  it('is what the generator writes, byte for byte', async () => {
    const fresh = join(scratch, 'sentiment');
    await writeSentiment(fresh);
    const committed = (await readdir(models.sentiment)).filter((n) => n !== 'README.md').sort();
    expect((await readdir(fresh)).sort()).toEqual(committed);
    for (const name of committed) {
      const same = (await readFile(join(fresh, name))).equals(await readFile(join(models.sentiment, name)));
      expect([name, same]).toEqual([name, true]);
    }
  });
});

describe('roberta-sequence-classification-9 look-alike', () => {
  it('takes `input`, returns `output`, and agrees with the sentiment model, padded or not', async () => {
    const session = await ort.InferenceSession.create(join(models.roberta9, 'model.onnx'));
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    const sentiment = await ort.InferenceSession.create(join(models.sentiment, 'model.onnx'));
    const tokenizer = await loadTokenizer(models.roberta9);
    const texts = PINNED.map(([t]) => t);
    const { ids, mask } = encodeBatch(tokenizer, texts);
    const batch = rows((await session.run({ input: int64(ids) })).output);
    const reference = rows(
      (await sentiment.run({ input_ids: int64(ids), attention_mask: int64(mask) })).logits,
    );
    expect(batch.map(argmax)).toEqual(PINNED.map(([, label]) => (label === 'POSITIVE' ? 1 : 0)));
    for (const [i, text] of texts.entries()) {
      const [single] = rows((await session.run({ input: int64([tokenizer.encode(text).ids]) })).output);
      (single as number[]).forEach((v, j) => {
        expect(batch[i]?.[j]).toBeCloseTo(v, 6);
        expect(reference[i]?.[j]).toBeCloseTo(v, 6);
      });
    }
  });
});

describe('iris-like tensor model', () => {
  it('maps float_input [batch, 4] to probabilities [batch, 3] that pick the right species', async () => {
    expect(await readdir(models.tensor)).toEqual(['model.onnx']);
    const session = await ort.InferenceSession.create(join(models.tensor, 'model.onnx'));
    expect(session.inputNames).toEqual(['float_input']);
    expect(session.outputNames).toEqual(['probabilities']);
    const flowers = [
      [5.1, 3.5, 1.4, 0.2], // setosa
      [6.4, 3.2, 4.5, 1.5], // versicolor
      [6.3, 3.3, 6.0, 2.5], // virginica
      [4.9, 3.0, 1.4, 0.2], // setosa
    ];
    const input = new ort.Tensor('float32', Float32Array.from(flowers.flat()), [flowers.length, 4]);
    const output = (await session.run({ float_input: input })).probabilities;
    expect(output?.dims).toEqual([4, 3]);
    const probabilities = rows(output);
    expect(probabilities.map(argmax)).toEqual([0, 1, 2, 0]);
    for (const row of probabilities) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });
});

describe('benchmark transformer', () => {
  it('runs any batch and length up to model_max_length; padding does not change a row', async () => {
    const dir = await benchTransformer({ layers: 1, hidden: 64, heads: 2 });
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    expect(session.inputNames).toEqual(['input_ids', 'attention_mask']);
    expect(session.outputNames).toEqual(['logits']);
    const tokenizer = await loadTokenizer(dir);
    const run = async (texts: string[]): Promise<number[][]> => {
      const { ids, mask } = encodeBatch(tokenizer, texts);
      const logits = (await session.run({ input_ids: int64(ids), attention_mask: int64(mask) })).logits;
      expect(logits?.dims).toEqual([texts.length, 2]);
      return rows(logits);
    };
    const texts = [
      'I love this',
      'This is terrible and I want my money back',
      'Espresso',
      'MLOps is critical',
    ];
    const single = await run([texts[1] as string]);
    const batch = await run(texts);
    expect(batch.flat().every(Number.isFinite)).toBe(true);
    (single[0] as number[]).forEach((v, j) => expect(batch[1]?.[j]).toBeCloseTo(v, 4));
    expect(batch[0]).not.toEqual(batch[1]);

    const maxLength = (await readJson(join(dir, 'tokenizer_config.json'))).model_max_length as number;
    expect(maxLength).toBe(512);
    const longest = Array.from({ length: maxLength }, (_, i) =>
      i === 0 ? 0 : i === maxLength - 1 ? 2 : 500 + i,
    );
    const logits = (
      await session.run({ input_ids: int64([longest]), attention_mask: int64([longest.map(() => 1)]) })
    ).logits;
    expect(rows(logits).flat().every(Number.isFinite)).toBe(true);
  });

  it('is reproducible: the same options and seed give the same bytes, another seed other weights', async () => {
    const tiny = { layers: 1, hidden: 64, heads: 2 };
    const cached = await readFile(join(await benchTransformer(tiny), 'model.onnx'));
    await writeTransformer(join(scratch, 'seed1'), tiny);
    await writeTransformer(join(scratch, 'seed2'), { ...tiny, seed: 2 });
    expect((await readFile(join(scratch, 'seed1', 'model.onnx'))).equals(cached)).toBe(true);
    const other = await readFile(join(scratch, 'seed2', 'model.onnx'));
    expect(other.length).toBe(cached.length);
    expect(other.equals(cached)).toBe(false);
  });

  it('cuts its tokenizer to a smaller vocab so every token id has an embedding', async () => {
    const dir = await benchTransformer({ layers: 1, hidden: 64, heads: 2, vocab: 8000 });
    const config = await readJson(join(dir, 'config.json'));
    expect(config.vocab_size).toBe(8000);
    const tokenizer = await loadTokenizer(dir);
    const { ids, mask } = encodeBatch(tokenizer, ['Unbelievably wonderful, astonishing zymurgy!', 'ok']);
    expect(Math.max(...ids.flat())).toBeLessThan(8000);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const logits = (await session.run({ input_ids: int64(ids), attention_mask: int64(mask) })).logits;
    expect(rows(logits).flat().every(Number.isFinite)).toBe(true);
  });

  it('loads at the default size (4 layers x 256 hidden x 4 heads, vocab >= 8000)', async () => {
    const dir = await benchTransformer();
    const config = await readJson(join(dir, 'config.json'));
    expect(config).toMatchObject({ num_hidden_layers: 4, hidden_size: 256, num_attention_heads: 4 });
    expect(config.vocab_size as number).toBeGreaterThanOrEqual(8000);
    const session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
    const { ids, mask } = encodeBatch(await loadTokenizer(dir), ['I love this']);
    const logits = (await session.run({ input_ids: int64(ids), attention_mask: int64(mask) })).logits;
    expect(logits?.dims).toEqual([1, 2]);
  });
});

describe('broken inputs', () => {
  it('a truncated model and a text file named model.onnx do not load', async () => {
    for (const dir of [models.broken.truncated, models.broken.notOnnx]) {
      expect(await readdir(dir)).toContain('tokenizer.json');
      await expect(ort.InferenceSession.create(join(dir, 'model.onnx'))).rejects.toThrow(
        /Protobuf parsing failed/,
      );
    }
  });

  it('a folder with two models is ambiguous, an empty folder has none, and neither loads as a model', async () => {
    const onnx = (await readdir(models.broken.twoModels)).filter((n) => n.endsWith('.onnx'));
    expect(onnx.sort()).toEqual(['model-v2.onnx', 'model.onnx']);
    expect(await readdir(models.broken.empty)).toEqual([]);
    for (const dir of [models.broken.twoModels, models.broken.empty]) {
      await expect(ort.InferenceSession.create(dir)).rejects.toThrow();
    }
  });
});

describe('npm run models', () => {
  const execFileAsync = promisify(execFile);
  const cli = (args: string[]) =>
    execFileAsync(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), ['scripts/models/cli.ts', ...args], {
      cwd: REPO_ROOT,
    });

  it('writes the chosen model into --out, identical to the fixture', async () => {
    const out = join(scratch, 'cli-tensor');
    const { stdout } = await cli(['--which', 'tensor', '--out', out]);
    expect(stdout).toContain('wrote tensor');
    expect(await readFile(join(out, 'model.onnx'))).toEqual(
      await readFile(join(models.tensor, 'model.onnx')),
    );
  });

  it('rejects an unknown model kind with a message that lists the kinds', async () => {
    await expect(cli(['--which', 'bert', '--out', join(scratch, 'x')])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('sentiment, roberta9, tensor, transformer, broken'),
    });
  });
});
