/**
 * KServe v1 protocol: GET /v1/models, GET /v1/models/{name}, POST /v1/models/{name}:predict with
 * {"instances": [...]} -> {"predictions": [...]}. Text models take strings; tensor models take rows
 * (one input) or objects keyed by input name.
 */
import type { FastifyInstance } from 'fastify';
import { HttpError } from '../errors.js';
import type { InferenceService } from '../service.js';
import type { WireTensor } from '../tensors.js';
import { decodeV2Tensor, sliceRows, TensorError, toJsonData, v2Datatype } from '../tensors.js';
import { error, json, modelParam } from '../openapi.js';
import { checkModel, isObject, parseTexts, timingHeaders } from './common.js';
import type { DocumentedAs, RouteContext, RouteModule } from './route.js';

/** The shape of nested arrays (first element at each level). */
function shapeOf(value: unknown): number[] {
  const shape: number[] = [];
  let v = value;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0];
  }
  return shape;
}

function tensorFeeds(service: InferenceService, instances: unknown[]): Record<string, WireTensor> {
  const specs = service.info.inputs;
  instances.forEach((inst, i) => {
    const unexpected = isObject(inst)
      ? Object.keys(inst).find((k) => !specs.some((s) => s.name === k))
      : undefined;
    if (unexpected !== undefined) {
      throw new HttpError(
        400,
        `instances[${i}] has unexpected inference input '${unexpected}' for model '${service.info.name}', allowed inputs are: ${specs.map((s) => s.name).join(', ')}`,
      );
    }
  });
  const feeds: Record<string, WireTensor> = {};
  for (const spec of specs) {
    const rows = instances.map((inst, i) => {
      if (isObject(inst)) {
        if (!(spec.name in inst)) throw new HttpError(400, `instances[${i}] lacks input '${spec.name}'`);
        return inst[spec.name];
      }
      if (specs.length > 1) {
        throw new HttpError(
          400,
          `instances[${i}] must be an object keyed by input name (${specs.map((s) => s.name).join(', ')})`,
        );
      }
      return inst;
    });
    const rowShape = shapeOf(rows[0]);
    try {
      feeds[spec.name] = decodeV2Tensor(
        { datatype: v2Datatype(spec.type), shape: [rows.length, ...rowShape], data: rows },
        spec,
      );
    } catch (err) {
      if (err instanceof TensorError) throw new HttpError(400, err.message);
      throw err;
    }
  }
  return feeds;
}

function register(app: FastifyInstance, { service, health, maxTexts }: RouteContext): void {
  app.get('/v1/models', async () => ({ models: [service.info.name] }));
  app.get<{ Params: { name: string } }>('/v1/models/:name', async (req) => {
    checkModel(service, req.params.name);
    return { name: service.info.name, ready: health.ready() };
  });
  // find-my-way cannot split `name:predict` inside one segment, so the verb is parsed here.
  const documentedAs: DocumentedAs = { openapi: '/v1/models/{name}:predict' };
  app.post<{ Params: { target: string } }>(
    '/v1/models/:target',
    { config: documentedAs },
    async (req, reply) => {
      const match = /^(.+):predict$/.exec(req.params.target);
      if (match === null)
        throw new HttpError(404, `no route for POST ${req.url.split('?')[0]}; use /v1/models/NAME:predict`);
      checkModel(service, match[1] as string);
      const body = req.body;
      if (!isObject(body) || !Array.isArray(body.instances)) {
        throw new HttpError(400, 'body must be {"instances": [...]}');
      }
      const instances = body.instances;
      if (instances.length === 0) throw new HttpError(400, 'instances is empty');
      if (instances.length > maxTexts) {
        throw new HttpError(
          413,
          `${instances.length} instances exceed the limit of ${maxTexts} per request (MAX_TEXTS)`,
        );
      }
      if (service.info.text && service.classifies) {
        const texts = parseTexts(instances, maxTexts, 'instances');
        const { results, timing } = await service.classify(texts);
        timingHeaders(reply, timing);
        return {
          predictions: results.map((r) =>
            r.positive === undefined
              ? { label: r.top.label, score: r.top.score }
              : { label: r.top.label, score: r.top.score, positive: r.positive },
          ),
        };
      }
      const { outputs, timing } = service.info.text
        ? await service.inferTexts(parseTexts(instances, maxTexts, 'instances'))
        : await service.inferTensors(tensorFeeds(service, instances));
      timingHeaders(reply, timing);
      const names = Object.keys(outputs);
      const predictions = instances.map((_, i) => {
        const row = (n: string) => {
          const t = outputs[n] as WireTensor;
          const r = sliceRows(t, i, i + 1);
          return unflatten(toJsonData(r), t.dims.slice(1));
        };
        return names.length === 1
          ? row(names[0] as string)
          : Object.fromEntries(names.map((n) => [n, row(n)]));
      });
      return { predictions };
    },
  );
}

/** Nests flat row data back into its trailing shape. */
function unflatten(data: unknown[], dims: number[]): unknown {
  if (dims.length <= 1) return data;
  const [, ...rest] = dims;
  const size = rest.reduce((a, b) => a * b, 1);
  const out: unknown[] = [];
  for (let i = 0; i < data.length; i += size) out.push(unflatten(data.slice(i, i + size), rest));
  return out;
}

export const v1Routes: RouteModule = {
  register,
  paths: () => ({
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
  }),
  endpoints: (info) => [`POST /v1/models/${info.name}:predict`],
};
