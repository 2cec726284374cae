/**
 * Text pipeline: tokenization with @huggingface/tokenizers over the model's tokenizer.json, truncation
 * that keeps the special tokens (roberta's final `</s>`), and padding of a batch into the model's feeds
 * (input_ids / attention_mask / token_type_ids, or the one int64 input of roberta-9 style models).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import type { ModelFiles } from './model-dir.js';
import { StartupError } from './model-dir.js';
import type { TensorSpec, WireTensor } from './tensors.js';
import { zeros } from './tensors.js';

export interface Encoded {
  ids: number[];
  typeIds: number[] | undefined;
  /** True when the text was cut to the maximum length. */
  truncated: boolean;
}

type Role = 'ids' | 'mask' | 'types';

export interface TextFeedPlan {
  /** Which text role feeds each model input, in the model's input order. */
  inputs: { spec: TensorSpec; role: Role }[];
  /** Padding would change answers when the model gets no attention mask: batch equal lengths only. */
  needsEqualLengths: boolean;
  /** A fixed sequence length declared by the model (every row is padded to it), else undefined. */
  fixedLength: number | undefined;
}

const INTEGER_TYPES = new Set(['int64', 'int32', 'int16', 'int8', 'uint8', 'uint16', 'uint32', 'uint64']);

/** Maps the ONNX inputs to text roles; throws a StartupError when the text cannot feed the model. */
export function planTextFeeds(inputs: TensorSpec[], onnxPath: string): TextFeedPlan {
  const byName: Record<string, Role> = { input_ids: 'ids', attention_mask: 'mask', token_type_ids: 'types' };
  let plan: { spec: TensorSpec; role: Role }[];
  const only = inputs[0];
  if (inputs.length === 1 && only !== undefined && INTEGER_TYPES.has(only.type)) {
    plan = [{ spec: only, role: only.name === 'attention_mask' ? 'mask' : 'ids' }];
  } else {
    plan = inputs.map((spec) => {
      const role = byName[spec.name];
      if (role === undefined) {
        throw new StartupError(
          `${onnxPath} has input '${spec.name}' that text cannot feed (the server feeds input_ids, attention_mask, token_type_ids or one integer input); fix: export the model with those inputs, or remove tokenizer.json to serve it as a tensor model`,
        );
      }
      return { spec, role };
    });
  }
  for (const { spec } of plan) {
    if (!INTEGER_TYPES.has(spec.type) || (spec.shape.length !== 2 && spec.shape.length !== 0)) {
      throw new StartupError(
        `${onnxPath} input '${spec.name}' is ${spec.type} [${spec.shape.join(',')}], not an integer [batch, sequence] tensor; fix: export it as int64 [batch, sequence], or remove tokenizer.json to serve it as a tensor model`,
      );
    }
  }
  if (!plan.some((p) => p.role === 'ids')) {
    throw new StartupError(
      `${onnxPath} has no input_ids input; fix: export the model with an input_ids input, or remove tokenizer.json to serve it as a tensor model`,
    );
  }
  const fixed = plan.map((p) => p.spec.shape[1]).find((d) => d !== undefined && d >= 0);
  return {
    inputs: plan,
    needsEqualLengths: !plan.some((p) => p.role === 'mask') && fixed === undefined,
    fixedLength: fixed,
  };
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { content?: unknown }).content === 'string'
  )
    return (value as { content: string }).content;
  return undefined;
}

export class TextPipeline {
  readonly maxLength: number;
  readonly padId: number;
  private readonly tokenizer: Tokenizer;
  private readonly addedIds = new Map<string, number>();
  private readonly unkId: number;
  private readonly wantTypes: boolean;

  constructor(
    files: ModelFiles,
    readonly plan: TextFeedPlan,
    maxSequenceLength: number | undefined,
  ) {
    const tokJson = files.tokenizerJson as Record<string, unknown>;
    try {
      this.tokenizer = new Tokenizer(tokJson, files.tokenizerConfig);
      this.tokenizer.encode('warm up');
    } catch (err) {
      throw new StartupError(
        `${files.dir}/tokenizer.json cannot be loaded (${(err as Error).message}); fix: save it with a Hugging Face fast tokenizer (tokenizer.save_pretrained)`,
      );
    }
    for (const [id, tok] of this.tokenizer.get_added_tokens_decoder()) this.addedIds.set(tok.content, id);
    const model = tokJson.model as { unk_token?: unknown };
    const unkName = tokenContent(files.tokenizerConfig.unk_token) ?? tokenContent(model.unk_token);
    this.unkId = (unkName !== undefined ? this.idOf(unkName) : undefined) ?? 0;
    this.padId = this.findPadId(files);
    this.maxLength = plan.fixedLength ?? this.findMaxLength(files, maxSequenceLength);
    this.wantTypes = plan.inputs.some((p) => p.role === 'types');
    const specials = this.tokenizer.encode('').ids.length;
    if (specials >= this.maxLength) {
      throw new StartupError(
        `the maximum sequence length ${this.maxLength} leaves no room for text after ${specials} special tokens; fix: raise MAX_SEQUENCE_LENGTH`,
      );
    }
  }

  private idOf(token: string): number | undefined {
    return this.addedIds.get(token) ?? this.tokenizer.token_to_id(token);
  }

  private findPadId(files: ModelFiles): number {
    const padding = files.tokenizerJson?.padding as { pad_id?: unknown } | null | undefined;
    const names = [tokenContent(files.tokenizerConfig.pad_token), '<pad>', '[PAD]', '<|pad|>'];
    for (const name of names) {
      const id = name === undefined ? undefined : this.idOf(name);
      if (id !== undefined) return id;
    }
    if (padding && typeof padding.pad_id === 'number') return padding.pad_id;
    return 0;
  }

  private findMaxLength(files: ModelFiles, override: number | undefined): number {
    if (override !== undefined) return override;
    const fromConfig = files.tokenizerConfig.model_max_length;
    if (typeof fromConfig === 'number' && fromConfig > 0 && fromConfig <= 1_000_000) return fromConfig;
    const trunc = files.tokenizerJson?.truncation as { max_length?: unknown } | null | undefined;
    if (trunc && typeof trunc.max_length === 'number' && trunc.max_length > 0) return trunc.max_length;
    const positions = files.config.max_position_embeddings;
    if (typeof positions === 'number' && positions > 2) {
      // RoBERTa-family models reserve two positions (padding_idx + 1 offset).
      return files.config.model_type?.includes('roberta') ? positions - 2 : positions;
    }
    return 512;
  }

  /** Tokenizes one text (special tokens added), truncated to maxLength with the special tokens kept. */
  encode(text: string): Encoded {
    const enc = this.tokenizer.encode(text, { return_token_type_ids: this.wantTypes });
    if (enc.ids.length <= this.maxLength) {
      return {
        ids: enc.ids,
        typeIds: this.wantTypes ? (enc.token_type_ids ?? []) : undefined,
        truncated: false,
      };
    }
    // Too long: cut the content tokens, then let the tokenizer's post-processor add the special tokens
    // again, so that e.g. roberta's `<s> ... </s>` framing survives truncation.
    const tokens = this.tokenizer.tokenize(text, { add_special_tokens: false });
    const specials = enc.ids.length - tokens.length;
    const kept = tokens.slice(0, Math.max(0, this.maxLength - specials));
    const post = this.tokenizer.post_processor;
    const processed = post ? post(kept, null, true) : { tokens: kept, token_type_ids: undefined };
    const ids = processed.tokens.map((t: string) => this.idOf(t) ?? this.unkId);
    const typeIds = this.wantTypes
      ? (processed.token_type_ids ?? new Array<number>(ids.length).fill(0))
      : undefined;
    return { ids, typeIds, truncated: true };
  }

  /** Pads a batch of encodings into the model's feeds (pad id, attention mask 0 on padding). */
  feeds(batch: Encoded[]): Record<string, WireTensor> {
    const width = this.plan.fixedLength ?? Math.max(1, ...batch.map((e) => e.ids.length));
    const rows = batch.length;
    const feeds: Record<string, WireTensor> = {};
    for (const { spec, role } of this.plan.inputs) {
      const data = zeros(spec.type, rows * width) as Exclude<ReturnType<typeof zeros>, string[]>;
      const big = data instanceof BigInt64Array || data instanceof BigUint64Array;
      batch.forEach((e, r) => {
        for (let c = 0; c < width; c++) {
          const inside = c < e.ids.length;
          let v: number;
          if (role === 'ids') v = inside ? (e.ids[c] as number) : this.padId;
          else if (role === 'mask') v = inside ? 1 : 0;
          else v = inside ? (e.typeIds?.[c] ?? 0) : 0;
          if (big) (data as BigInt64Array)[r * width + c] = BigInt(v);
          else (data as Int32Array)[r * width + c] = v;
        }
      });
      feeds[spec.name] = { type: spec.type, dims: [rows, width], data };
    }
    return feeds;
  }
}
