/**
 * The server's routes describe themselves: every route a module registers is documented in
 * GET /openapi.json (and nothing documented is missing), and GET /'s endpoint list names only
 * documented operations. Registration only: no request is served, so the service is never called.
 */
import { describe, expect, it } from '@jest/globals';
import Fastify from 'fastify';
import { openApi } from '../../server-template/src/openapi.js';
import { ROUTES } from '../../server-template/src/routes/index.js';
import type { DocumentedAs, RouteContext } from '../../server-template/src/routes/route.js';
import type { InferenceService, ModelInfo } from '../../server-template/src/service.js';

const info: ModelInfo = {
  name: 'sentiment',
  version: '3',
  text: true,
  labels: ['NEGATIVE', 'POSITIVE'],
  inputs: [],
  outputs: [],
  maxSequenceLength: undefined,
};

/** `METHOD /path` of every route the modules register (fastify's automatic HEAD routes left out). */
async function registered(): Promise<string[]> {
  const app = Fastify();
  const seen: string[] = [];
  app.addHook('onRoute', (route) => {
    const path =
      (route.config as Partial<DocumentedAs> | undefined)?.openapi ?? route.url.replace(/:(\w+)/g, '{$1}');
    for (const method of [route.method].flat()) if (method !== 'HEAD') seen.push(`${method} ${path}`);
  });
  const ctx: RouteContext = {
    // Registration reads nothing from these; no request is sent.
    service: { info } as unknown as InferenceService,
    health: { live: () => true, ready: () => true },
    metrics: {} as RouteContext['metrics'],
    maxTexts: 64,
    port: () => 8080,
    routes: ROUTES,
  };
  for (const m of ROUTES) m.register(app, ctx);
  await app.ready();
  await app.close();
  return seen.sort();
}

function documented(): string[] {
  const doc = openApi(info, ROUTES) as { paths: Record<string, Record<string, unknown>> };
  return Object.entries(doc.paths)
    .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
}

describe('self-describing routes', () => {
  it('the registered routes are exactly the documented operations', async () => {
    const routes = await registered();
    expect(routes).toEqual(documented());
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /predict',
        'POST /v2/models/{name}/infer',
        'POST /v1/models/{name}:predict',
      ]),
    );
  });

  it("GET /'s endpoint list names documented operations only, each once", () => {
    const ops = new Set(documented());
    const endpoints = ROUTES.flatMap((r) => r.endpoints(info)).map((e) =>
      e.replaceAll(`/${info.name}`, '/{name}'),
    );
    expect(endpoints.filter((e) => !ops.has(e))).toEqual([]);
    expect(new Set(endpoints).size).toBe(endpoints.length);
  });

  it('a tensor model lists no text endpoints', () => {
    const endpoints = ROUTES.flatMap((r) => r.endpoints({ ...info, text: false }));
    expect(endpoints).not.toContain('POST /predict');
    expect(endpoints).toContain('POST /v2/models/sentiment/infer');
  });
});
