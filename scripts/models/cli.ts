/**
 * npm run models -- --out DIR [--which sentiment|roberta9|tensor|transformer|broken|faulty]
 *                   [--layers N --hidden N --heads N --vocab N --max-positions N --seed N]
 *
 * With --which, that model is written into DIR itself (e.g. `--which sentiment --out examples/sentiment`
 * regenerates the committed example byte for byte); without it, every kind goes to DIR/<kind>.
 */
import { resolve, join } from 'node:path';
import { parseArgs } from 'node:util';

import { MODEL_KINDS, transformerOptions, writeModel, type ModelKind } from './generate.js';
import type { TransformerOptions } from './transformer.js';

const USAGE =
  'usage: npm run models -- --out DIR [--which ' +
  MODEL_KINDS.join('|') +
  '] [--layers N --hidden N --heads N --vocab N --max-positions N --seed N]';

function integer(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      which: { type: 'string' },
      layers: { type: 'string' },
      hidden: { type: 'string' },
      heads: { type: 'string' },
      vocab: { type: 'string' },
      'max-positions': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!values.out) throw new Error(`--out is required\n${USAGE}`);
  const which = values.which;
  if (which !== undefined && !(MODEL_KINDS as readonly string[]).includes(which)) {
    throw new Error(`--which must be one of ${MODEL_KINDS.join(', ')}, got ${JSON.stringify(which)}`);
  }
  const opts: TransformerOptions = {
    layers: integer('layers', values.layers),
    hidden: integer('hidden', values.hidden),
    heads: integer('heads', values.heads),
    vocab: integer('vocab', values.vocab),
    maxPositions: integer('max-positions', values['max-positions']),
    seed: integer('seed', values.seed),
  };
  const out = resolve(values.out);
  const kinds: ModelKind[] = which ? [which as ModelKind] : [...MODEL_KINDS];
  for (const kind of kinds) {
    const dir = which ? out : join(out, kind);
    await writeModel(kind, dir, opts);
    const detail = kind === 'transformer' ? ` ${JSON.stringify(transformerOptions(opts))}` : '';
    console.log(`wrote ${kind} to ${dir}${detail}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
});
