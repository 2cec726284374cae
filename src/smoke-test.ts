/**
 * The prediction smoke test: what to send to the server, and whether its answer is acceptable.
 * The server runs either as a host process (./server-process.ts) or as a container (./docker.ts);
 * both hand this module a base URL. Nothing is pushed unless this passes.
 */
import { UserError } from './errors.js';

/** Sentences the default text smoke test sends (the original example's first). */
export const DEFAULT_SENTENCES = ['MLOps is critical for robustness', 'I love this', 'This is terrible'];

export interface TensorSpec {
  name: string;
  datatype: string;
  shape: number[];
}

export interface SmokeRequest {
  path: string;
  body: unknown;
}

export interface SmokeResult {
  mode: 'process' | 'container';
  request: SmokeRequest;
  /** Labels (text models) or argmax indices of the first output (tensor models), one per input row. */
  predictions: string[];
  /** The server's full answer to the first request. */
  response: unknown;
  latencyMs: { first: number; median: number; runs: number };
}

/** Builds the request: /predict for text models, a v2 infer request with zeros for tensor models. */
export function planSmokeRequest(opts: {
  textModel: boolean;
  modelName: string;
  inputs: TensorSpec[];
  input?: unknown;
}): SmokeRequest {
  const inferPath = `/v2/models/${encodeURIComponent(opts.modelName)}/infer`;
  if (opts.input !== undefined) {
    if (Array.isArray(opts.input)) {
      if (!opts.textModel) {
        throw new UserError(
          "Input 'smoke-test-input' is an array of texts, but the model has no tokenizer.json.",
          'Give an Open Inference Protocol v2 infer request ({"inputs": [{"name", "shape", "datatype", "data"}]}).',
        );
      }
      if (opts.input.length === 0 || !opts.input.every((t) => typeof t === 'string' && t.length > 0)) {
        throw new UserError(
          "Input 'smoke-test-input' must be a non-empty array of non-empty strings.",
          'Example: ["MLOps is critical for robustness"].',
        );
      }
      return { path: '/predict', body: opts.input };
    }
    if (
      typeof opts.input === 'object' &&
      opts.input !== null &&
      Array.isArray((opts.input as { inputs?: unknown }).inputs)
    ) {
      return { path: inferPath, body: opts.input };
    }
    throw new UserError(
      "Input 'smoke-test-input' is neither an array of texts nor a v2 infer request.",
      'Give ["some text", ...] for /predict or {"inputs": [...]} for /v2/models/NAME/infer.',
    );
  }
  if (opts.textModel) return { path: '/predict', body: DEFAULT_SENTENCES };
  return {
    path: inferPath,
    body: {
      id: 'smoke-test',
      inputs: opts.inputs.map((spec) => {
        const shape = spec.shape.map((d) => (d < 0 ? 1 : d));
        const size = shape.reduce((a, b) => a * b, 1);
        const zero = spec.datatype === 'BOOL' ? false : 0;
        return { name: spec.name, datatype: spec.datatype, shape, data: new Array(size).fill(zero) };
      }),
    },
  };
}

interface PredictReply {
  predictions?: Array<{ label?: unknown }>;
}
interface InferReply {
  outputs?: Array<{ name?: string; shape?: number[]; data?: unknown[] }>;
}

/** Reads the predicted labels out of a /predict or v2 infer answer. */
export function extractPredictions(request: SmokeRequest, reply: unknown): string[] {
  if (request.path === '/predict') {
    const preds = (reply as PredictReply)?.predictions;
    if (!Array.isArray(preds) || preds.some((p) => typeof p?.label !== 'string')) {
      throw new Error(
        `/predict answered without predictions[].label: ${JSON.stringify(reply).slice(0, 300)}`,
      );
    }
    return preds.map((p) => p.label as string);
  }
  const out = (reply as InferReply)?.outputs?.[0];
  if (!out || !Array.isArray(out.data) || !Array.isArray(out.shape)) {
    throw new Error(`infer answered without outputs: ${JSON.stringify(reply).slice(0, 300)}`);
  }
  const rows = out.shape.length > 1 ? (out.shape[0] ?? 1) : 1;
  const width = rows > 0 ? out.data.length / rows : 0;
  const labels: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = (out.data as number[]).slice(r * width, (r + 1) * width);
    let best = 0;
    row.forEach((v, i) => {
      if (Number(v) > Number(row[best])) best = i;
    });
    labels.push(String(best));
  }
  return labels;
}

/** How far a row of probabilities may sum from 1 (float32 softmax over a few classes is far closer). */
const PROBABILITY_SUM_TOLERANCE = 1e-3;

/** v2 outputs whose name says they hold probabilities (`probabilities`, `output_probability`, `probs`). */
const PROBABILITY_OUTPUT = /prob/i;

const describeValue = (v: unknown): string => (v === null ? 'null (NaN or infinity)' : JSON.stringify(v));

/**
 * The default oracle, applied whether or not 'smoke-test-expect' is set: every number the server
 * answers must be finite (JSON has no NaN or Infinity, so the server writes them as null), /predict
 * scores must be probabilities in [0, 1], and each row of a v2 output named as probabilities must lie
 * in [0, 1] and sum to 1. A model that answers NaN would otherwise pass as class '0'.
 */
export function checkOutputs(mode: string, request: SmokeRequest, reply: unknown): void {
  const fail = (what: string): never => {
    throw new UserError(
      `Smoke test (${mode}): POST ${request.path} answered ${what}; nothing was pushed.`,
      "The model computes invalid outputs for this input: check the exported graph (e.g. run it with onnxruntime in Python on the same input), or give a realistic 'smoke-test-input'.",
    );
  };
  if (request.path === '/predict') {
    const preds = (reply as PredictReply).predictions ?? [];
    preds.forEach((p, i) => {
      const score = (p as { score?: unknown }).score;
      if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
        fail(`predictions[${i}].score = ${describeValue(score)}, not a probability in [0, 1]`);
      }
    });
    return;
  }
  for (const out of (reply as InferReply).outputs ?? []) {
    const data: unknown[] = (out.data ?? []).flat(Infinity);
    const bad = data.findIndex((v) => v === null || (typeof v === 'number' && !Number.isFinite(v)));
    if (bad >= 0) fail(`output '${out.name}'[${bad}] = ${describeValue(data[bad])}`);
    const shape = out.shape ?? [];
    const width = shape.length > 0 ? (shape.at(-1) as number) : 0;
    if (!PROBABILITY_OUTPUT.test(out.name ?? '') || width < 2 || !data.every((v) => typeof v === 'number')) {
      continue;
    }
    const values = data as number[];
    for (let r = 0; r * width < values.length; r++) {
      const row = values.slice(r * width, (r + 1) * width);
      const sum = row.reduce((a, b) => a + b, 0);
      if (row.some((v) => v < 0 || v > 1) || Math.abs(sum - 1) > PROBABILITY_SUM_TOLERANCE) {
        fail(
          `output '${out.name}' row ${r} = [${row.map((v) => v.toPrecision(4)).join(', ')}] (sum ${sum.toPrecision(4)}), not probabilities summing to 1`,
        );
      }
    }
  }
}

/** Fails with one line when the predictions differ from the expected labels. */
export function checkExpectations(mode: string, predictions: string[], expected: string[]): void {
  if (expected.length === 0) return;
  const mismatch =
    predictions.length !== expected.length ||
    predictions.some((p, i) => p.toLowerCase() !== (expected[i] ?? '').toLowerCase());
  if (mismatch) {
    throw new UserError(
      `Smoke test (${mode}) predicted [${predictions.join(', ')}] but 'smoke-test-expect' is [${expected.join(', ')}]; nothing was pushed.`,
      "Check that the right model version was packaged, or correct 'smoke-test-expect' / 'smoke-test-input'.",
    );
  }
}

/** Sends the smoke request a few times to a running server and checks the answer. */
export async function runSmokeTest(opts: {
  mode: 'process' | 'container';
  baseUrl: string;
  request: SmokeRequest;
  expect: string[];
  runs?: number;
  fetchImpl?: typeof fetch;
}): Promise<SmokeResult> {
  const doFetch = opts.fetchImpl ?? fetch;
  const runs = opts.runs ?? 5;
  const times: number[] = [];
  let first: unknown;
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const res = await doFetch(opts.baseUrl + opts.request.path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(opts.request.body),
    });
    const text = await res.text();
    times.push(performance.now() - started);
    if (!res.ok) {
      throw new UserError(
        `Smoke test (${opts.mode}): POST ${opts.request.path} answered ${res.status}: ${text.slice(0, 300)}; nothing was pushed.`,
        "Check 'smoke-test-input' matches the model's inputs, or the server log above for the cause.",
      );
    }
    if (i === 0) first = JSON.parse(text);
  }
  const predictions = extractPredictions(opts.request, first);
  checkOutputs(opts.mode, opts.request, first);
  checkExpectations(opts.mode, predictions, opts.expect);
  const sorted = [...times].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 100) / 100;
  return {
    mode: opts.mode,
    request: opts.request,
    predictions,
    response: first,
    latencyMs: {
      first: round(times[0] ?? 0),
      median: round(sorted[Math.floor(sorted.length / 2)] ?? 0),
      runs,
    },
  };
}
