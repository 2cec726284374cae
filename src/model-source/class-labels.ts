/**
 * The `class-labels` input: class names by output index for a classifier without a config.json
 * `id2label` (the original roberta-sequence-classification-9.onnx has none). They are written as the
 * Hugging Face config.json the server already reads, so the image's model folder says what it serves
 * and `/predict`'s labels and `positive` flag follow from them.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** Writes (or updates) config.json's id2label/label2id in `dir`; returns the id2label written. */
export async function writeClassLabels(dir: string, labels: string[]): Promise<Record<string, string>> {
  const path = join(dir, 'config.json');
  let config: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      config = parsed as Record<string, unknown>;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UserError(
        `The model's config.json cannot be read to add 'class-labels' (${(e as Error).message}).`,
        "Fix or remove the model's config.json, or leave 'class-labels' empty to keep its id2label.",
      );
    }
  }
  const id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  config.id2label = id2label;
  config.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  return id2label;
}
