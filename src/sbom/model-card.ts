/**
 * A minimal CycloneDX model card read from the model itself: the task, every graph input and output
 * with its element type and shape (symbolic dimensions by name) as the schema's `format` strings, and
 * the class labels by output index as properties (the 1.6 model card has no field for them).
 */
import type { ModelFacts, TensorFact } from './facts.js';

/** `name: type[d0,d1]`, e.g. `input_ids: int64[batch,sequence]`. */
export function tensorFormat(t: TensorFact): string {
  return `${t.name}: ${t.type}[${t.shape.join(',')}]`;
}

/**
 * The task as the server serves it: a model with a tokenizer is a text classifier (/predict); a
 * tensor model with class labels a classifier; any other tensor model answers raw tensors.
 */
export function modelTask(m: Pick<ModelFacts, 'textModel' | 'labels'>): string {
  if (m.textModel) return 'text-classification';
  return m.labels.length > 0 ? 'classification' : 'tensor-inference';
}

export function modelCard(m: ModelFacts): Record<string, unknown> {
  const properties = m.labels.map((label, i) => ({
    name: `package-onnx-model:class-label:${i}`,
    value: label,
  }));
  return {
    'bom-ref': 'model:card',
    modelParameters: {
      task: modelTask(m),
      ...(m.modelType && { architectureFamily: m.modelType }),
      ...(m.architecture && { modelArchitecture: m.architecture }),
      inputs: m.inputs.map((t) => ({ format: tensorFormat(t) })),
      outputs: m.outputs.map((t) => ({ format: tensorFormat(t) })),
    },
    ...(properties.length > 0 && { properties }),
  };
}
