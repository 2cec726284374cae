/**
 * Turns a classifier's logits into labelled scores: softmax over classes, or sigmoid per class for
 * multi-label models and single-logit models; labels from config.json id2label, else LABEL_i.
 */
import type { ModelConfigJson } from './model-dir.js';

export interface LabelScore {
  label: string;
  score: number;
}

export interface Classification {
  /** Scores in class order. */
  scores: LabelScore[];
  /** The best class. */
  top: LabelScore;
  /** The original /predict's `positive` flag, when the model has a notion of positive. */
  positive: boolean | undefined;
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
    const probs = new Array<number>(n);
    if (this.multiLabel) {
      for (let i = 0; i < n; i++) probs[i] = 1 / (1 + Math.exp(-(logits[i] as number)));
    } else {
      let max = -Infinity;
      for (let i = 0; i < n; i++) max = Math.max(max, logits[i] as number);
      let sum = 0;
      for (let i = 0; i < n; i++) sum += probs[i] = Math.exp((logits[i] as number) - max);
      for (let i = 0; i < n; i++) probs[i] = (probs[i] as number) / sum;
    }
    const scores = probs.map((score, i) => ({ label: this.labels[i] as string, score }));
    let best = 0;
    for (let i = 1; i < n; i++) if ((probs[i] as number) > (probs[best] as number)) best = i;
    let positive: boolean | undefined;
    if (this.positiveIndex !== undefined) {
      positive = this.multiLabel ? (probs[this.positiveIndex] as number) >= 0.5 : best === this.positiveIndex;
    }
    return { scores, top: scores[best] as LabelScore, positive };
  }
}
