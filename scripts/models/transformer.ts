/**
 * The benchmark model: a RoBERTa-style encoder with random (seeded) weights, so serving it costs what
 * a real encoder costs. IO as RobertaForSequenceClassification exports: `input_ids`, `attention_mask`
 * (int64 [batch, sequence]) -> `logits` (float32 [batch, 2]).
 *
 * Graph, as PyTorch exports it at opset 17: word + position embeddings (positions from the mask, as
 * RoBERTa counts them: cumsum(mask) * mask + pad id) -> LayerNormalization; per layer: Q/K/V MatMul,
 * Reshape/Transpose into heads, QK^T / sqrt(head size) + (1 - mask) * -10000, Softmax, x V, merge heads,
 * output projection, residual, LayerNormalization, feed-forward with GELU (the Erf formulation),
 * residual, LayerNormalization; classifier on the first token (dense + tanh + projection to 2 labels).
 */
import { createCipheriv, createHash } from 'node:crypto';

import { DataType, GraphBuilder, floatTensor } from './onnx.js';
import { MAX_POSITIONS, PAD_ID } from './tokenizer.js';

export interface TransformerOptions {
  layers?: number;
  hidden?: number;
  heads?: number;
  /** Embedding rows; token ids from the tokenizer must stay below it. */
  vocab?: number;
  /** Position embeddings; sequences may be up to maxPositions - 2 tokens long (RoBERTa: 514 -> 512). */
  maxPositions?: number;
  /** Feed-forward width (default 4 x hidden). */
  intermediate?: number;
  seed?: number;
}

export type ResolvedTransformerOptions = Required<TransformerOptions>;

export const TRANSFORMER_DEFAULTS = {
  layers: 4,
  hidden: 256,
  heads: 4,
  maxPositions: MAX_POSITIONS,
  seed: 1,
};

/** Fills in defaults (vocab defaults to the tokenizer's size) and checks the shape is buildable. */
export function resolveTransformerOptions(
  opts: TransformerOptions,
  tokenizerSize: number,
): ResolvedTransformerOptions {
  const hidden = opts.hidden ?? TRANSFORMER_DEFAULTS.hidden;
  const resolved = {
    layers: opts.layers ?? TRANSFORMER_DEFAULTS.layers,
    hidden,
    heads: opts.heads ?? TRANSFORMER_DEFAULTS.heads,
    vocab: opts.vocab ?? tokenizerSize,
    maxPositions: opts.maxPositions ?? TRANSFORMER_DEFAULTS.maxPositions,
    intermediate: opts.intermediate ?? 4 * hidden,
    seed: opts.seed ?? TRANSFORMER_DEFAULTS.seed,
  };
  for (const [key, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < (key === 'seed' ? 0 : 1)) {
      throw new Error(`transformer option ${key} must be a positive integer, got ${value}`);
    }
  }
  if (hidden % resolved.heads !== 0)
    throw new Error(`hidden (${hidden}) must be a multiple of heads (${resolved.heads})`);
  if (resolved.maxPositions < 3) throw new Error('maxPositions must be at least 3');
  return resolved;
}

/**
 * Deterministic random weights, uniform on [-a, a] with a = std * sqrt(3) so their standard deviation
 * is `std` (uniform, like PyTorch's default Linear init). The bits come from AES-128-CTR over zeros
 * keyed by the seed: node:crypto, identical on every platform and Node version, unlike Math.random.
 * Only arithmetic per value: jest's VM contexts make Math.log/Math.cos about ten times slower, which
 * turned a Box-Muller normal into half a minute for the default model.
 */
export class SeededUniform {
  private readonly cipher;
  constructor(seed: number) {
    const key = createHash('sha256').update(`package-onnx-model transformer seed ${seed}`).digest();
    this.cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  }

  fill(count: number, std: number): Float32Array {
    const bytes = this.cipher.update(new Uint8Array(count * 4));
    const bits = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const scale = (2 * std * Math.sqrt(3)) / 4294967296;
    const offset = std * Math.sqrt(3);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = (bits.getUint32(i * 4, true) + 0.5) * scale - offset;
    return out;
  }
}

const INIT_STD = 0.02; // the spread of BERT/RoBERTa's initializer_range
const LN_EPS = 1e-5;
const MASK_NEG = -10000;

export function transformerModel(o: ResolvedTransformerOptions): Uint8Array {
  const rng = new SeededUniform(o.seed);
  const g = new GraphBuilder();
  const headSize = o.hidden / o.heads;

  const weight = (name: string, dims: number[]): string =>
    g.init(
      name,
      floatTensor(
        dims,
        rng.fill(
          dims.reduce((a, b) => a * b, 1),
          INIT_STD,
        ),
      ),
    );
  const constant = (name: string, dims: number[], value: number): string =>
    g.init(name, floatTensor(dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(value)));
  const dense = (x: string, name: string, inSize: number, outSize: number): string =>
    g.within(name, () =>
      g.op('Add', [g.op('MatMul', [x, weight('weight', [inSize, outSize])]), constant('bias', [outSize], 0)]),
    );
  const layerNorm = (x: string, name: string): string =>
    g.within(name, () =>
      g.op('LayerNormalization', [x, constant('weight', [o.hidden], 1), constant('bias', [o.hidden], 0)], {
        axis: { int: -1 },
        epsilon: { float: LN_EPS },
      }),
    );

  const ids = g.input('input_ids', DataType.INT64, ['batch', 'sequence']);
  const mask = g.input('attention_mask', DataType.INT64, ['batch', 'sequence']);

  // Embeddings.
  let x = g.within('embeddings', () => {
    const words = g.op('Gather', [weight('word_embeddings', [o.vocab, o.hidden]), ids]);
    const cumsum = g.op('CumSum', [mask, g.int64('axis', [1], [])]);
    const positionIds = g.op('Add', [g.op('Mul', [cumsum, mask]), g.int64('padding_idx', [PAD_ID], [])]);
    const positions = g.op('Gather', [
      weight('position_embeddings', [o.maxPositions, o.hidden]),
      positionIds,
    ]);
    return layerNorm(g.op('Add', [words, positions]), 'LayerNorm');
  });

  // Additive attention mask [batch, 1, 1, sequence]: 0 where attended, -10000 at padding.
  const maskBias = g.within('extended_attention_mask', () => {
    const m = g.op('Unsqueeze', [
      g.op('Cast', [mask], { to: { int: DataType.FLOAT } }),
      g.int64('axes', [1, 2]),
    ]);
    return g.op('Mul', [g.op('Sub', [g.float('one', [1], []), m]), g.float('neg', [MASK_NEG], [])]);
  });
  const headsShape = g.int64('heads_shape', [0, 0, o.heads, headSize]);
  const mergedShape = g.int64('merged_shape', [0, 0, o.hidden]);
  const scale = g.float('attention_scale', [Math.sqrt(headSize)], []);

  for (let layer = 0; layer < o.layers; layer++) {
    x = g.within(`encoder/layer.${layer}`, () => {
      const attended = g.within('attention', () => {
        const split = (name: string, perm: number[]): string =>
          g.op('Transpose', [g.op('Reshape', [dense(x, name, o.hidden, o.hidden), headsShape])], {
            perm: { ints: perm },
          });
        const q = split('query', [0, 2, 1, 3]); // [batch, heads, sequence, headSize]
        const kT = split('key', [0, 2, 3, 1]); // [batch, heads, headSize, sequence]
        const v = split('value', [0, 2, 1, 3]);
        const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, kT]), scale]), maskBias]);
        const probs = g.op('Softmax', [scores], { axis: { int: -1 } });
        const context = g.op('Transpose', [g.op('MatMul', [probs, v])], { perm: { ints: [0, 2, 1, 3] } });
        const merged = g.op('Reshape', [context, mergedShape]);
        return layerNorm(g.op('Add', [dense(merged, 'output', o.hidden, o.hidden), x]), 'LayerNorm');
      });
      return g.within('ffn', () => {
        const h = dense(attended, 'intermediate', o.hidden, o.intermediate);
        // GELU(h) = 0.5 * h * (1 + erf(h / sqrt(2)))
        const erf = g.op('Erf', [g.op('Div', [h, g.float('sqrt2', [Math.SQRT2], [])])]);
        const gelu = g.op('Mul', [
          g.op('Mul', [h, g.float('half', [0.5], [])]),
          g.op('Add', [erf, g.float('one', [1], [])]),
        ]);
        return layerNorm(
          g.op('Add', [dense(gelu, 'output', o.intermediate, o.hidden), attended]),
          'LayerNorm',
        );
      });
    });
  }

  // Classification head on the first token (<s>).
  const logits = g.within('classifier', () => {
    const first = g.op('Gather', [x, g.int64('first_token', [0], [])], { axis: { int: 1 } }); // [batch, hidden]
    const pooled = g.op('Tanh', [dense(first, 'dense', o.hidden, o.hidden)]);
    return dense(pooled, 'out_proj', o.hidden, 2);
  });
  g.output(logits, 'logits', DataType.FLOAT, ['batch', 2]);
  return g.toBytes({
    graphName: 'roberta-style-encoder',
    doc:
      `RoBERTa-style encoder with random weights (seed ${o.seed}) generated by scripts/models for benchmarks: ` +
      `${o.layers} layers, hidden ${o.hidden}, ${o.heads} heads, vocab ${o.vocab}, ${o.maxPositions} positions.`,
  });
}
