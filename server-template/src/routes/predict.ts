/**
 * POST /predict: the original Flask app's contract (a JSON array of strings ->
 * {"positive": <first text>, "predictions": [...]}) and the Hugging Face Hub's text-classification shape
 * ({"inputs": str | [str], "parameters": {"top_k", "function_to_apply"}} -> one [{label, score}] list per
 * input inside an outer list, best first). POST /tei/predict: Text Embeddings Inference's /predict.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.js';
import type { InferenceService } from '../service.js';
import { isObject, parseTexts, timingHeaders } from './common.js';
import { parseHubRequest, parseTeiRequest, rank } from './huggingface.js';

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
      // As the Hub answers (and its clients read): a list per input, even for a single string.
      const { texts, options } = parseHubRequest(body, maxTexts);
      const { results, timing } = await service.classify(texts);
      timingHeaders(reply, timing);
      return results.map((r) => rank(r, options));
    }
    throw new HttpError(
      400,
      'body must be a JSON array of strings (["I love this"]) or {"inputs": "I love this"}',
    );
  });

  app.post('/tei/predict', async (request, reply) => {
    const body = request.body;
    if (!isObject(body) || !('inputs' in body)) {
      throw new HttpError(
        400,
        'body must be {"inputs": "I love this"} or {"inputs": [["I love this"], ["Awful"]]}',
      );
    }
    const { texts, single, options } = parseTeiRequest(body, maxTexts);
    const { results, timing } = await service.classify(texts);
    timingHeaders(reply, timing);
    const ranked = results.map((r) => rank(r, options));
    return single ? ranked[0] : ranked;
  });
}
