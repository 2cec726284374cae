/**
 * A byte-level BPE tokenizer in the shape of roberta-base's `tokenizer.json`: `<s>`=0, `<pad>`=1,
 * `</s>`=2, `<unk>`=3, the 256 byte symbols, merged tokens, `<mask>` last; ByteLevel pre-tokenizer
 * without prefix space, RobertaProcessing post-processor, ByteLevel decoder.
 *
 * The merge list is learned here from a word list so that every listed word form ("love", "Ġlove",
 * "Love") comes out of the tokenizer as ONE token. No maintained JS library trains BPE merges (the
 * Rust trainer is not on npm and could not give us this guarantee anyway), so the learner below is
 * written by hand; the result is checked against @huggingface/tokenizers before anything is written.
 */
import { Tokenizer } from '@huggingface/tokenizers';

export const SPECIAL_TOKENS = ['<s>', '<pad>', '</s>', '<unk>'] as const;
export const MASK_TOKEN = '<mask>';
export const BOS_ID = 0;
export const PAD_ID = 1;
export const EOS_ID = 2;
export const UNK_ID = 3;
/** roberta-base's limits: 512 tokens per sequence, 514 position embeddings (positions start at 2). */
export const MODEL_MAX_LENGTH = 512;
export const MAX_POSITIONS = 514;

/** The byte-level marker for a leading space (byte 0x20 in GPT-2's byte-to-unicode table). */
export const SPACE_MARK = '\u0120';

/**
 * GPT-2's reversible byte-to-unicode table: printable bytes map to themselves, the rest to U+0100+n.
 * Written out because @huggingface/tokenizers does not export its copy.
 */
export function byteSymbols(): string[] {
  const symbols: string[] = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    symbols[b] = String.fromCodePoint(printable ? b : next++);
  }
  return symbols;
}

/** The byte-level spelling of a word as the pre-tokenizer emits it (space -> Ġ, etc.). */
export function byteLevel(text: string): string {
  const symbols = byteSymbols();
  return Array.from(new TextEncoder().encode(text), (b) => symbols[b] as string).join('');
}

export interface Bpe {
  /** Token strings in id order (index = id). */
  vocab: string[];
  /** Merge rules in rank order. */
  merges: [string, string][];
}

const pairKey = (a: string, b: string): string => `${a} ${b}`; // byte-level tokens never contain ' '

/** Applies merges exactly as the Rust and JS BPE models do: lowest rank first, leftmost on ties. */
function applyMerges(word: string, ranks: Map<string, number>): string[] {
  const parts = Array.from(word);
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const rank = ranks.get(pairKey(parts[i] as string, parts[i + 1] as string));
      if (rank !== undefined && rank < bestRank) {
        bestRank = rank;
        best = i;
      }
    }
    if (best < 0) return parts;
    parts.splice(best, 2, (parts[best] as string) + (parts[best + 1] as string));
  }
}

/**
 * Learns merges so that each form (already in byte-level spelling) encodes to a single token.
 * Forms are taken in the given order; for each, the current merges are applied and, while it is still
 * in pieces, merges joining the pieces left to right are appended. Appended merges rank after every
 * existing one, and an earlier form never reaches a state where only new merges apply, so earlier
 * forms keep their single-token encoding.
 */
export function learnBpe(forms: readonly string[]): Bpe {
  const vocab: string[] = [...SPECIAL_TOKENS, ...byteSymbols()];
  const known = new Set(vocab);
  const merges: [string, string][] = [];
  const ranks = new Map<string, number>();
  for (const form of forms) {
    for (let round = 0; ; round++) {
      if (round > form.length) throw new Error(`BPE learner did not converge on ${JSON.stringify(form)}`);
      const pieces = applyMerges(form, ranks);
      if (pieces.length === 1) break;
      let left = pieces[0] as string;
      for (const right of pieces.slice(1)) {
        const key = pairKey(left, right);
        if (!ranks.has(key)) {
          ranks.set(key, merges.length);
          merges.push([left, right]);
        }
        left += right;
        if (!known.has(left)) {
          known.add(left);
          vocab.push(left);
        }
      }
    }
  }
  vocab.push(MASK_TOKEN);
  return { vocab, merges };
}

/**
 * The first `size` ids of a tokenizer as a tokenizer of its own: merges whose pieces or result fall
 * outside are dropped, so every id it produces is < size (`<mask>`, the last id, goes first).
 */
export function truncateBpe(bpe: Bpe, size: number): Bpe {
  if (size >= bpe.vocab.length) return bpe;
  const minimum = SPECIAL_TOKENS.length + 256;
  if (size < minimum)
    throw new Error(`a byte-level vocabulary needs at least ${minimum} tokens, got ${size}`);
  const vocab = bpe.vocab.slice(0, size);
  const kept = new Set(vocab);
  const merges = bpe.merges.filter(([a, b]) => kept.has(a) && kept.has(b) && kept.has(a + b));
  return { vocab, merges };
}

function addedToken(id: number, content: string): Record<string, unknown> {
  const mask = content === MASK_TOKEN;
  return { id, content, single_word: false, lstrip: mask, rstrip: false, normalized: !mask, special: true };
}

/** The `tokenizer.json` document (the Hugging Face tokenizers serialization, as roberta-base has it). */
export function tokenizerJson(bpe: Bpe): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  bpe.vocab.forEach((token, id) => (vocab[token] = id));
  const added = bpe.vocab
    .map((token, id) => ({ token, id }))
    .filter(({ token }) => (SPECIAL_TOKENS as readonly string[]).includes(token) || token === MASK_TOKEN)
    .map(({ token, id }) => addedToken(id, token));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: 'RobertaProcessing',
      sep: [SPECIAL_TOKENS[EOS_ID], EOS_ID],
      cls: [SPECIAL_TOKENS[BOS_ID], BOS_ID],
      trim_offsets: true,
      add_prefix_space: false,
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: bpe.merges.map(([a, b]) => pairKey(a, b)),
    },
  };
}

/** The `tokenizer_config.json` document (transformers' RobertaTokenizer settings). */
export function tokenizerConfig(bpe: Bpe): Record<string, unknown> {
  const decoder: Record<string, unknown> = {};
  for (const token of [...SPECIAL_TOKENS, MASK_TOKEN]) {
    const id = bpe.vocab.indexOf(token);
    if (id < 0) continue;
    const { content, single_word, lstrip, rstrip, normalized, special } = addedToken(id, token);
    decoder[String(id)] = { content, lstrip, normalized, rstrip, single_word, special };
  }
  const hasMask = bpe.vocab.includes(MASK_TOKEN);
  return {
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    bos_token: '<s>',
    clean_up_tokenization_spaces: false,
    cls_token: '<s>',
    eos_token: '</s>',
    errors: 'replace',
    ...(hasMask ? { mask_token: MASK_TOKEN } : {}),
    model_max_length: MODEL_MAX_LENGTH,
    pad_token: '<pad>',
    sep_token: '</s>',
    tokenizer_class: 'RobertaTokenizer',
    trim_offsets: true,
    unk_token: '<unk>',
  };
}

/**
 * Loads the documents with @huggingface/tokenizers and checks that each word (plain text, as a user
 * would type it) is one token, surrounded by `<s>` ... `</s>`. Throws naming the first word that is not.
 */
export function checkSingleTokens(bpe: Bpe, words: readonly string[]): void {
  const tokenizer = new Tokenizer(tokenizerJson(bpe), tokenizerConfig(bpe));
  for (const word of words) {
    const { ids } = tokenizer.encode(word);
    if (ids.length !== 3 || ids[0] !== BOS_ID || ids[2] !== EOS_ID) {
      throw new Error(`tokenizer splits ${JSON.stringify(word)} into ${JSON.stringify(ids)}`);
    }
  }
}
