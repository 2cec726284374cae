/** The OpenAPI 3.1 description of this server's HTTP API (served at GET /openapi.json). */
import type { ModelInfo } from './service.js';
import { SERVER_VERSION } from './routes/v2.js';

const error = {
  description: 'Error',
  content: {
    'application/json': {
      schema: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
    },
  },
};
const json = (schema: object, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
const jsonBody = (schema: object) => ({ content: { 'application/json': { schema } } });
const timing = {
  'x-queue-time': { description: 'ms the request waited for a worker', schema: { type: 'string' } },
  'x-inference-time': { description: 'ms of ONNX Runtime run()', schema: { type: 'string' } },
  'x-tokenization-time': { description: 'ms of tokenization', schema: { type: 'string' } },
};
/** The replies of a classification route: 200 with timing headers, or an error. */
const classifyResponses = (schema: object) => ({
  '200': { ...json(schema), headers: timing },
  '400': error,
  '413': error,
  '500': error,
  '503': error,
});
const labelScore = {
  type: 'object',
  properties: { label: { type: 'string' }, score: { type: 'number' } },
};
const tensor = {
  type: 'object',
  required: ['name', 'shape', 'datatype', 'data'],
  properties: {
    name: { type: 'string' },
    shape: { type: 'array', items: { type: 'integer' } },
    datatype: {
      type: 'string',
      enum: [
        'BOOL',
        'UINT8',
        'UINT16',
        'UINT32',
        'UINT64',
        'INT8',
        'INT16',
        'INT32',
        'INT64',
        'FP32',
        'FP64',
        'BYTES',
      ],
    },
    data: { type: 'array', description: 'flat (row-major) or nested values' },
  },
};
const modelParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
const versionParam = { name: 'version', in: 'path', required: true, schema: { type: 'string' } };

export function openApi(info: ModelInfo): object {
  const health = (key: string) => ({
    get: {
      responses: {
        '200': json({ type: 'object', properties: { [key]: { type: 'boolean' } } }),
        '503': json({ type: 'object', properties: { [key]: { type: 'boolean' } } }, 'Not ' + key),
      },
    },
  });
  const inferOp = (params: object[]) => ({
    post: {
      summary: 'Open Inference Protocol v2 inference',
      parameters: params,
      requestBody: {
        content: {
          'application/json': {
            schema: {
              type: 'object',
              required: ['inputs'],
              properties: {
                id: { type: 'string' },
                inputs: { type: 'array', items: tensor },
                outputs: {
                  type: 'array',
                  items: { type: 'object', properties: { name: { type: 'string' } } },
                },
              },
            },
          },
        },
      },
      responses: {
        '200': {
          ...json({
            type: 'object',
            properties: {
              model_name: { type: 'string' },
              model_version: { type: 'string' },
              id: { type: 'string' },
              outputs: { type: 'array', items: tensor },
            },
          }),
          headers: timing,
        },
        '400': error,
        '404': error,
        '413': error,
        '500': error,
        '503': error,
      },
    },
  });
  const metadataOp = (params: object[]) => ({
    get: {
      summary: 'Model metadata (shape -1 = dynamic)',
      parameters: params,
      responses: { '200': json({ type: 'object' }), '404': error },
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: `${info.name} inference server`,
      version: SERVER_VERSION,
      description: `Serves ONNX model '${info.name}' version ${info.version}${info.text ? ' (text model)' : ' (tensor model)'}.`,
    },
    paths: {
      '/': {
        get: {
          summary: 'Model summary, endpoints and a sample request',
          responses: { '200': json({ type: 'object' }) },
        },
      },
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
      '/v2': { get: { summary: 'Server metadata', responses: { '200': json({ type: 'object' }) } } },
      '/v2/health/live': health('live'),
      '/v2/health/ready': health('ready'),
      '/v2/models/{name}': metadataOp([modelParam]),
      '/v2/models/{name}/versions/{version}': metadataOp([modelParam, versionParam]),
      '/v2/models/{name}/ready': {
        get: {
          parameters: [modelParam],
          responses: {
            '200': json({ type: 'object' }),
            '503': json({ type: 'object' }, 'Not ready'),
            '404': error,
          },
        },
      },
      '/v2/models/{name}/versions/{version}/ready': {
        get: {
          parameters: [modelParam, versionParam],
          responses: {
            '200': json({ type: 'object' }),
            '503': json({ type: 'object' }, 'Not ready'),
            '404': error,
          },
        },
      },
      '/v2/models/{name}/infer': inferOp([modelParam]),
      '/v2/models/{name}/versions/{version}/infer': inferOp([modelParam, versionParam]),
      '/v1/models': {
        get: { summary: 'KServe v1 model list', responses: { '200': json({ type: 'object' }) } },
      },
      '/v1/models/{name}': {
        get: { parameters: [modelParam], responses: { '200': json({ type: 'object' }), '404': error } },
      },
      '/v1/models/{name}:predict': {
        post: {
          summary: 'KServe v1 prediction',
          parameters: [modelParam],
          requestBody: {
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['instances'],
                  properties: { instances: { type: 'array' } },
                },
              },
            },
          },
          responses: {
            '200': json({ type: 'object', properties: { predictions: { type: 'array' } } }),
            '400': error,
            '404': error,
            '413': error,
            '503': error,
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'Prometheus text format' } },
        },
      },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': json({ type: 'object' }) } } },
    },
  };
}
