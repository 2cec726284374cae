/** GET / (what this server serves and how to call it), GET /openapi.json and GET /metrics. */
import type { FastifyInstance } from 'fastify';
import { json, openApi } from '../openapi.js';
import { v2Datatype } from '../tensors.js';
import type { RouteContext, RouteModule } from './route.js';

function register(app: FastifyInstance, { service, metrics, port, routes }: RouteContext): void {
  app.get('/', async () => {
    const info = service.info;
    const base = `http://127.0.0.1:${port()}`;
    const sample = info.text
      ? `curl -X POST -H "Content-Type: application/json" --data '["MLOps is critical for robustness"]' ${base}/predict`
      : `curl -X POST -H "Content-Type: application/json" --data '${JSON.stringify({
          inputs: info.inputs.map((i) => ({
            name: i.name,
            shape: i.shape.map((d) => (d < 0 ? 1 : d)),
            datatype: v2Datatype(i.type),
            data: new Array(i.shape.reduce((n, d) => n * (d < 0 ? 1 : d), 1)).fill(0),
          })),
        })}' ${base}/v2/models/${info.name}/infer`;
    return {
      name: info.name,
      version: info.version,
      text: info.text,
      labels: info.labels ?? null,
      inputs: info.inputs.map((i) => i.name),
      outputs: info.outputs.map((o) => o.name),
      max_sequence_length: info.maxSequenceLength ?? null,
      endpoints: routes.flatMap((r) => r.endpoints(info)),
      example: sample,
    };
  });
  app.get('/openapi.json', async () => openApi(service.info, routes));
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

export const metaRoutes: RouteModule = {
  register,
  paths: () => ({
    '/': {
      get: {
        summary: 'Model summary, endpoints and a sample request',
        responses: { '200': json({ type: 'object' }) },
      },
    },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics',
        responses: { '200': { description: 'Prometheus text format' } },
      },
    },
    '/openapi.json': { get: { summary: 'This document', responses: { '200': json({ type: 'object' }) } } },
  }),
  endpoints: () => ['GET /metrics', 'GET /openapi.json'],
};
