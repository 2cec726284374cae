/**
 * Turns a classifier's logits into labelled scores: softmax over classes, or sigmoid per class for
 * multi-label models and single-logit models; labels from config.json id2label, else LABEL_i.
 */
import type { ModelConfigJson } from './model-dir.js';

export interface LabelScore {
  label: string;
  score: number;
}

/** How logits become scores: the Hugging Face pipelines' `function_to_apply` values. */
export type ScoreFunction = 'softmax' | 'sigmoid' | 'none';
export const SCORE_FUNCTIONS: readonly ScoreFunction[] = ['sigmoid', 'softmax', 'none'];

export interface Classification {
  /** The model's raw outputs for this text, in class order. */
  logits: number[];
  /** Scores in class order. */
  scores: LabelScore[];
  /** The best class. */
  top: LabelScore;
  /** The original /predict's `positive` flag, when the model has a notion of positive. */
  positive: boolean | undefined;
}

/** Scores from one row of logits: sigmoid per class, softmax over classes, or the logits unchanged. */
export function applyScoreFunction(fn: ScoreFunction, logits: ArrayLike<number>): number[] {
  const n = logits.length;
  const out = new Array<number>(n);
  if (fn === 'sigmoid') {
    for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-(logits[i] as number)));
  } else if (fn === 'softmax') {
    let max = -Infinity;
    for (let i = 0; i < n; i++) max = Math.max(max, logits[i] as number);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += out[i] = Math.exp((logits[i] as number) - max);
    for (let i = 0; i < n; i++) out[i] = (out[i] as number) / sum;
  } else {
    for (let i = 0; i < n; i++) out[i] = logits[i] as number;
  }
  return out;
}

export class Classifier {
  readonly labels: string[];
  readonly multiLabel: boolean;
  /** Index of the "positive" class, when there is one. */
  private readonly positiveIndex: number | undefined;

  constructor(config: ModelConfigJson, numClasses: number) {
    const id2label = config.id2label ?? {};
    this.labels = Array.from({ length: numClasses }, (_, i) => id2label[String(i)] ?? `LABEL_${i}`);
    this.multiLabel = config.problem_type === 'multi_label_classification' || numClasses === 1;
    const named = this.labels.findIndex((l) => l.toLowerCase() === 'positive' || l.toLowerCase() === 'pos');
    // The original Flask app answered `positive = argmax == 1` for its 2-class model.
    this.positiveIndex = named >= 0 ? named : numClasses === 2 ? 1 : numClasses === 1 ? 0 : undefined;
  }

  classify(logits: ArrayLike<number>): Classification {
    const n = this.labels.length;
    const row = Array.from({ length: n }, (_, i) => logits[i] as number);
    const probs = applyScoreFunction(this.multiLabel ? 'sigmoid' : 'softmax', row);
    const scores = probs.map((score, i) => ({ label: this.labels[i] as string, score }));
    let best = 0;
    for (let i = 1; i < n; i++) if ((probs[i] as number) > (probs[best] as number)) best = i;
    let positive: boolean | undefined;
    if (this.positiveIndex !== undefined) {
      positive = this.multiLabel ? (probs[this.positiveIndex] as number) >= 0.5 : best === this.positiveIndex;
    }
    return {
      logits: row,
      scores,
      top: scores[best] as LabelScore,
      positive,
    };
  }
}
