/** GET / (what this server serves and how to call it), GET /openapi.json and GET /metrics. */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';
import { openApi } from '../openapi.js';
import type { InferenceService } from '../service.js';
import { v2Datatype } from '../tensors.js';

export function metaRoutes(
  app: FastifyInstance,
  service: InferenceService,
  metrics: Metrics,
  port: () => number,
): void {
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
      endpoints: [
        ...(info.text ? ['POST /predict', 'POST /tei/predict'] : []),
        `POST /v2/models/${info.name}/infer`,
        `GET /v2/models/${info.name}`,
        `POST /v1/models/${info.name}:predict`,
        'GET /v2/health/live',
        'GET /v2/health/ready',
        'GET /metrics',
        'GET /openapi.json',
      ],
      example: sample,
    };
  });
  app.get('/openapi.json', async () => openApi(service.info));
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
