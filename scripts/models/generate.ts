/**
 * Writes each generated model as a model directory (model.onnx plus, where the model takes text,
 * tokenizer.json, tokenizer_config.json and config.json). Output is byte-for-byte reproducible.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { classifierConfig, roberta9Model, sentimentModel, sentimentVocab } from './sentiment.js';
import { echoModel, headModel, imageModel, pooledModel, tensorModel } from './tensor.js';
import { MODEL_MAX_LENGTH, tokenizerConfig, tokenizerJson, truncateBpe, type Bpe } from './tokenizer.js';
import {
  resolveTransformerOptions,
  transformerModel,
  type ResolvedTransformerOptions,
  type TransformerOptions,
} from './transformer.js';

export const MODEL_KINDS = ['sentiment', 'roberta9', 'tensor', 'transformer', 'broken', 'faulty'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** The four broken inputs, as directories under the folder given to `writeBroken`. */
export const BROKEN_DIRS = {
  truncated: 'truncated',
  notOnnx: 'not-onnx',
  twoModels: 'two-models',
  empty: 'empty',
} as const;
export type BrokenInputs = { [K in keyof typeof BROKEN_DIRS]: string };

/** Models that load and run but compute invalid outputs, as directories under `writeFaulty`'s folder. */
export const FAULTY_DIRS = {
  nanTensor: 'nan-tensor',
  unnormalizedTensor: 'unnormalized-tensor',
} as const;
export type FaultyModels = { [K in keyof typeof FAULTY_DIRS]: string };

const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

async function writeFiles(dir: string, files: Record<string, string | Uint8Array>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
}

function tokenizerFiles(bpe: Bpe, modelMaxLength = MODEL_MAX_LENGTH): Record<string, string> {
  return {
    'tokenizer.json': json(tokenizerJson(bpe)),
    'tokenizer_config.json': json({ ...tokenizerConfig(bpe), model_max_length: modelMaxLength }),
  };
}

function sentimentFiles(): Record<string, string | Uint8Array> {
  const vocab = sentimentVocab();
  return {
    'model.onnx': sentimentModel(vocab),
    ...tokenizerFiles(vocab.bpe),
    'config.json': json(classifierConfig(vocab.bpe.vocab.length)),
  };
}

/** examples/sentiment: the committed miniature classifier with its tokenizer and config. */
export async function writeSentiment(dir: string): Promise<void> {
  await writeFiles(dir, sentimentFiles());
}

/** The model-zoo look-alike: model.onnx (`input` -> `output`) and the tokenizer; no config.json. */
export async function writeRoberta9(dir: string): Promise<void> {
  const vocab = sentimentVocab();
  await writeFiles(dir, { 'model.onnx': roberta9Model(vocab), ...tokenizerFiles(vocab.bpe) });
}

/** The iris-like tensor model: just model.onnx. */
export async function writeTensor(dir: string): Promise<void> {
  await writeFiles(dir, { 'model.onnx': tensorModel() });
}

/** The echo model (every v2 datatype in and out unchanged): just model.onnx. */
export async function writeEcho(dir: string): Promise<void> {
  await writeFiles(dir, { 'model.onnx': echoModel() });
}

/** The image-shaped FP32 model (mean of each 3x48x192 image): just model.onnx. */
export async function writeImage(dir: string): Promise<void> {
  await writeFiles(dir, { 'model.onnx': imageModel() });
}

/**
 * The iris variants whose outputs do not split into rows: `pooled` (an output summed over the batch,
 * declared [1, 3]) and `head` (the first two rows, declared as if per row). Just model.onnx each.
 */
export async function writeOddOutputs(dir: string): Promise<{ pooled: string; head: string }> {
  const paths = { pooled: join(dir, 'pooled'), head: join(dir, 'head') };
  await writeFiles(paths.pooled, { 'model.onnx': pooledModel() });
  await writeFiles(paths.head, { 'model.onnx': headModel() });
  return paths;
}

/** Resolves transformer options against the sentiment tokenizer (the default vocab is its size). */
export function transformerOptions(opts: TransformerOptions = {}): ResolvedTransformerOptions {
  return resolveTransformerOptions(opts, sentimentVocab().bpe.vocab.length);
}

/**
 * The benchmark encoder with the sentiment tokenizer, cut to `vocab` ids when smaller so every id it
 * produces has an embedding row; its model_max_length leaves room for RoBERTa's position offset.
 */
export async function writeTransformer(dir: string, opts: TransformerOptions = {}): Promise<void> {
  const o = transformerOptions(opts);
  const bpe = truncateBpe(sentimentVocab().bpe, o.vocab);
  const { layers, hidden, heads, intermediate, maxPositions } = o;
  await writeFiles(dir, {
    'model.onnx': transformerModel(o),
    ...tokenizerFiles(bpe, Math.min(MODEL_MAX_LENGTH, maxPositions - 2)),
    'config.json': json(
      classifierConfig(o.vocab, {
        max_position_embeddings: maxPositions,
        num_hidden_layers: layers,
        hidden_size: hidden,
        num_attention_heads: heads,
        intermediate_size: intermediate,
        hidden_act: 'gelu',
        layer_norm_eps: 1e-5,
        type_vocab_size: 1,
      }),
    ),
  });
}

/**
 * Inputs that must be rejected: a valid sentiment model cut in half (with its tokenizer files), a
 * text file named model.onnx (with tokenizer files), a folder holding two valid .onnx files, and an
 * empty folder. Returns the four directories.
 */
export async function writeBroken(dir: string): Promise<BrokenInputs> {
  const paths = Object.fromEntries(
    Object.entries(BROKEN_DIRS).map(([key, name]) => [key, join(dir, name)]),
  ) as BrokenInputs;
  const { 'model.onnx': model, ...textFiles } = sentimentFiles();
  const bytes = model as Uint8Array;
  await writeFiles(paths.truncated, {
    ...textFiles,
    'model.onnx': bytes.subarray(0, Math.floor(bytes.length / 2)),
  });
  await writeFiles(paths.notOnnx, {
    ...textFiles,
    'model.onnx': 'This is a text file, not an ONNX model.\n',
  });
  const tensor = tensorModel();
  await writeFiles(paths.twoModels, { 'model.onnx': tensor, 'model-v2.onnx': tensor });
  await mkdir(paths.empty, { recursive: true });
  return paths;
}

/**
 * Models that load and answer, but wrongly: the iris model with a NaN bias (every output NaN) and the iris
 * model without its softmax (`probabilities` that do not sum to 1). Returns the two directories.
 */
export async function writeFaulty(dir: string): Promise<FaultyModels> {
  const paths = Object.fromEntries(
    Object.entries(FAULTY_DIRS).map(([key, name]) => [key, join(dir, name)]),
  ) as FaultyModels;
  await writeFiles(paths.nanTensor, { 'model.onnx': tensorModel('nan') });
  await writeFiles(paths.unnormalizedTensor, { 'model.onnx': tensorModel('unnormalized') });
  return paths;
}

/** Writes one kind of model into `dir` (broken and faulty: their sub-directories). */
export async function writeModel(kind: ModelKind, dir: string, opts: TransformerOptions = {}): Promise<void> {
  switch (kind) {
    case 'sentiment':
      return writeSentiment(dir);
    case 'roberta9':
      return writeRoberta9(dir);
    case 'tensor':
      return writeTensor(dir);
    case 'transformer':
      return writeTransformer(dir, opts);
    case 'broken':
      await writeBroken(dir);
      return;
    case 'faulty':
      await writeFaulty(dir);
      return;
  }
}
