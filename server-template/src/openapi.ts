/**
 * The OpenAPI 3.1 description of this server's HTTP API (served at GET /openapi.json), assembled from the
 * route modules' own paths (each documents what it registers), and the schema pieces they share.
 */
import type { RouteModule } from './routes/route.js';
import { SERVER_VERSION } from './routes/v2.js';
import type { ModelInfo } from './service.js';

export const error = {
  description: 'Error',
  content: {
    'application/json': {
      schema: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] },
    },
  },
};
export const json = (schema: object, description = 'OK') => ({
  description,
  content: { 'application/json': { schema } },
});
export const jsonBody = (schema: object) => ({ content: { 'application/json': { schema } } });
export const timing = {
  'x-queue-time': { description: 'ms the request waited for a worker', schema: { type: 'string' } },
  'x-inference-time': { description: 'ms of ONNX Runtime run()', schema: { type: 'string' } },
  'x-tokenization-time': { description: 'ms of tokenization', schema: { type: 'string' } },
};
/** The replies of a classification route: 200 with timing headers, or an error. */
export const classifyResponses = (schema: object) => ({
  '200': { ...json(schema), headers: timing },
  '400': error,
  '413': error,
  '500': error,
  '503': error,
});
export const labelScore = {
  type: 'object',
  properties: { label: { type: 'string' }, score: { type: 'number' } },
};
export const tensor = {
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
export const modelParam = { name: 'name', in: 'path', required: true, schema: { type: 'string' } };
export const versionParam = { name: 'version', in: 'path', required: true, schema: { type: 'string' } };

export function openApi(info: ModelInfo, routes: readonly RouteModule[]): object {
  return {
    openapi: '3.1.0',
    info: {
      title: `${info.name} inference server`,
      version: SERVER_VERSION,
      description: `Serves ONNX model '${info.name}' version ${info.version}${info.text ? ' (text model)' : ' (tensor model)'}.`,
    },
    paths: Object.assign({}, ...routes.map((r) => r.paths(info))) as Record<string, object>,
  };
}
