/**
 * POST /predict: the original Flask app's contract (a JSON array of strings ->
 * {"positive": <first text>, "predictions": [...]}) and the Hugging Face Hub's text-classification shape
 * ({"inputs": str | [str], "parameters": {"top_k", "function_to_apply"}} -> one [{label, score}] list per
 * input inside an outer list, best first). POST /tei/predict: Text Embeddings Inference's /predict.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.js';
import { classifyResponses, jsonBody, labelScore } from '../openapi.js';
import { isObject, parseTexts, timingHeaders } from './common.js';
import { parseHubRequest, parseTeiRequest, rank } from './huggingface.js';
import type { RouteContext, RouteModule } from './route.js';

function register(app: FastifyInstance, { service, maxTexts }: RouteContext): void {
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

export const predictRoutes: RouteModule = {
  register,
  paths: () => ({
    '/predict': {
      post: {
        summary:
          'Classify texts: the original contract (a list of strings), or the Hugging Face Hub text-classification shape ({"inputs"})',
        requestBody: jsonBody({
          oneOf: [
            {
              type: 'array',
              items: { type: 'string' },
              example: ['MLOps is critical for robustness'],
            },
            {
              type: 'object',
              required: ['inputs'],
              properties: {
                inputs: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
                parameters: {
                  type: 'object',
                  properties: {
                    top_k: { type: 'integer', minimum: 1 },
                    function_to_apply: { enum: ['sigmoid', 'softmax', 'none'] },
                  },
                },
              },
            },
          ],
        }),
        responses: classifyResponses({
          oneOf: [
            {
              type: 'object',
              description: 'For a list of strings',
              properties: {
                positive: { type: 'boolean' },
                predictions: {
                  type: 'array',
                  items: {
                    type: 'object',
                    properties: {
                      label: { type: 'string' },
                      score: { type: 'number' },
                      positive: { type: 'boolean' },
                    },
                  },
                },
              },
            },
            {
              type: 'array',
              description: 'For {"inputs"}: one list per input, best first (also for a single string)',
              items: { type: 'array', items: labelScore },
            },
          ],
        }),
      },
    },
    '/tei/predict': {
      post: {
        summary: "Classify texts in Text Embeddings Inference's /predict shape",
        requestBody: jsonBody({
          type: 'object',
          required: ['inputs'],
          properties: {
            inputs: {
              oneOf: [
                { type: 'string' },
                {
                  type: 'array',
                  items: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 1 },
                },
              ],
            },
            raw_scores: { type: 'boolean' },
            truncate: { type: 'boolean' },
          },
        }),
        responses: classifyResponses({
          oneOf: [
            { type: 'array', description: 'For one text', items: labelScore },
            { type: 'array', description: 'For a batch', items: { type: 'array', items: labelScore } },
          ],
        }),
      },
    },
  }),
  endpoints: (info) => (info.text ? ['POST /predict', 'POST /tei/predict'] : []),
};
