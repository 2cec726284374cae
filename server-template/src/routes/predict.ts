/**
 * POST /predict: the original Flask app's contract (a JSON array of strings ->
 * {"positive": <first text>, "predictions": [...]}) and the Hugging Face / TEI shape
 * ({"inputs": str | [str], "parameters": {"top_k": n}} -> [{label, score}] sorted).
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.js';
import type { InferenceService } from '../service.js';
import { isObject, parseTexts, timingHeaders } from './common.js';

function parseTopK(parameters: unknown): number | undefined {
  if (parameters === undefined || parameters === null) return undefined;
  if (!isObject(parameters)) throw new HttpError(400, 'parameters must be an object, e.g. {"top_k": 1}');
  const k = parameters.top_k;
  if (k === undefined || k === null) return undefined;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1) {
    throw new HttpError(400, 'parameters.top_k must be a positive integer');
  }
  return k;
}

export function predictRoutes(app: FastifyInstance, service: InferenceService, maxTexts: number): void {
  app.post('/predict', async (request, reply) => {
    const body = request.body;
    if (body === undefined)
      throw new HttpError(400, 'the request body is empty; send JSON, e.g. ["I love this"]');
    if (Array.isArray(body)) {
      const texts = parseTexts(body, maxTexts);
      const { results, timing } = await service.classify(texts);
      timingHeaders(reply, timing);
      const predictions = results.map((r) =>
        r.positive === undefined
          ? { label: r.top.label, score: r.top.score }
          : { label: r.top.label, score: r.top.score, positive: r.positive },
      );
      const first = results[0];
      return first?.positive === undefined ? { predictions } : { positive: first.positive, predictions };
    }
    if (isObject(body) && 'inputs' in body) {
      const single = typeof body.inputs === 'string';
      const texts = parseTexts(body.inputs, maxTexts, 'inputs');
      const topK = parseTopK(body.parameters);
      const { results, timing } = await service.classify(texts);
      timingHeaders(reply, timing);
      const ranked = results.map((r) =>
        [...r.scores].sort((a, b) => b.score - a.score).slice(0, topK ?? r.scores.length),
      );
      return single ? ranked[0] : ranked;
    }
    throw new HttpError(
      400,
      'body must be a JSON array of strings (["I love this"]) or {"inputs": "I love this"}',
    );
  });
}
