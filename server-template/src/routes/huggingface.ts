/**
 * The Hugging Face shapes of text classification, as pure request parsers and answer builders:
 * - the Hub's inference API (what `@huggingface/inference` and `huggingface_hub` read): `{"inputs":
 *   str | [str], "parameters": {"top_k", "function_to_apply"}}` -> one list of {label, score} per input,
 *   inside an outer list, best first;
 * - Text Embeddings Inference's `/predict` (`{"inputs": str | [[str], ...], "raw_scores"}`): a single
 *   input answers the list alone, a batch a list of lists.
 */
import {
  type Classification,
  type LabelScore,
  SCORE_FUNCTIONS,
  type ScoreFunction,
  applyScoreFunction,
} from '../classify.js';
import { HttpError } from '../errors.js';
import { isObject, parseTexts } from './common.js';

/** How to turn one text's logits into its answer. */
export interface ScoreOptions {
  /** undefined = the model's own function (softmax, or sigmoid for multi-label / single-logit models). */
  fn: ScoreFunction | undefined;
  /** undefined = every label. */
  topK: number | undefined;
}

export interface HubRequest {
  texts: string[];
  options: ScoreOptions;
}

export interface TeiRequest {
  texts: string[];
  /** True when `inputs` was one text: the answer is then the list alone, not a list of lists. */
  single: boolean;
  options: ScoreOptions;
}

/** Labels and scores of one text, best first, cut to top_k. */
export function rank(result: Classification, { fn, topK }: ScoreOptions): LabelScore[] {
  const scores =
    fn === undefined
      ? result.scores
      : applyScoreFunction(fn, result.logits).map((score, i) => ({
          label: (result.scores[i] as LabelScore).label,
          score,
        }));
  return [...scores].sort((a, b) => b.score - a.score).slice(0, topK ?? scores.length);
}

/** Parses the Hub's text-classification request; every problem is a 400 naming the field. */
export function parseHubRequest(body: Record<string, unknown>, maxTexts: number): HubRequest {
  const texts = parseTexts(body.inputs, maxTexts, 'inputs');
  const parameters = body.parameters;
  if (parameters === undefined || parameters === null)
    return { texts, options: { fn: undefined, topK: undefined } };
  if (!isObject(parameters)) {
    throw new HttpError(
      400,
      'parameters must be an object, e.g. {"top_k": 1, "function_to_apply": "softmax"}',
    );
  }
  const k = parameters.top_k;
  if (k !== undefined && k !== null && (typeof k !== 'number' || !Number.isInteger(k) || k < 1)) {
    throw new HttpError(400, `parameters.top_k must be a positive integer, got ${JSON.stringify(k)}`);
  }
  const fn = parameters.function_to_apply;
  if (fn !== undefined && fn !== null && !SCORE_FUNCTIONS.includes(fn as ScoreFunction)) {
    throw new HttpError(
      400,
      `parameters.function_to_apply must be one of ${SCORE_FUNCTIONS.map((f) => `"${f}"`).join(', ')}, got ${JSON.stringify(fn)}`,
    );
  }
  return {
    texts,
    options: {
      fn: (fn ?? undefined) as ScoreFunction | undefined,
      topK: (k ?? undefined) as number | undefined,
    },
  };
}

const TEI_INPUTS =
  'inputs must be a string or a batch of one-text lists, e.g. "I love this" or [["I love this"], ["Awful"]]';

function teiPairError(): HttpError {
  return new HttpError(
    400,
    'text pairs ([text, text_pair]) are not supported: this server classifies single texts; send [["text"], ...] for a batch',
  );
}

/** Parses Text Embeddings Inference's /predict request (single text or batch of [text]; no pairs). */
export function parseTeiRequest(body: Record<string, unknown>, maxTexts: number): TeiRequest {
  const inputs = body.inputs;
  for (const flag of ['raw_scores', 'truncate'] as const) {
    if (body[flag] !== undefined && body[flag] !== null && typeof body[flag] !== 'boolean') {
      throw new HttpError(400, `${flag} must be true or false, got ${JSON.stringify(body[flag])}`);
    }
  }
  const options: ScoreOptions = { fn: body.raw_scores === true ? 'none' : undefined, topK: undefined };
  if (typeof inputs === 'string')
    return { texts: parseTexts(inputs, maxTexts, 'inputs'), single: true, options };
  if (!Array.isArray(inputs) || inputs.length === 0) throw new HttpError(400, TEI_INPUTS);
  // TEI reads a list of strings as one sequence: ["text"] or the pair ["text", "text_pair"].
  if (typeof inputs[0] === 'string') {
    if (inputs.length === 2) throw teiPairError();
    if (inputs.length > 2) throw new HttpError(400, TEI_INPUTS);
    return { texts: parseTexts(inputs, maxTexts, 'inputs'), single: true, options };
  }
  const texts = inputs.map((seq: unknown, i) => {
    if (!Array.isArray(seq) || seq.length === 0 || seq.length > 2) {
      throw new HttpError(400, `inputs[${i}] must be a one-text list like ["I love this"]; ${TEI_INPUTS}`);
    }
    if (seq.length === 2) throw teiPairError();
    return seq[0] as unknown;
  });
  return { texts: parseTexts(texts, maxTexts, 'inputs'), single: false, options };
}
