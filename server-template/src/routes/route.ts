/**
 * What a route module is: its registration, the OpenAPI paths it serves and its entries in GET /'s
 * endpoint list, together, so a new route is added in one place. app.ts registers every module of
 * ./index.ts's ROUTES, openapi.ts documents them, meta.ts lists them (a test checks the registered routes
 * equal the documented ones).
 */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { InferenceService, ModelInfo } from '../service.js';
import type { Health } from './v2.js';

export interface RouteContext {
  service: InferenceService;
  health: Health;
  metrics: Metrics;
  /** MAX_TEXTS: texts (or rows) per request. */
  maxTexts: number;
  /** The port the server listens on (for the sample request). */
  port(): number;
  /** Every route module (GET / and GET /openapi.json describe them all). */
  routes: readonly RouteModule[];
}

export interface RouteModule {
  register(app: FastifyInstance, ctx: RouteContext): void;
  /** OpenAPI path items by path ({param} syntax). */
  paths(info: ModelInfo): Record<string, object>;
  /** `METHOD /path` lines for GET /'s endpoint list (the routes worth calling). */
  endpoints(info: ModelInfo): string[];
}

/**
 * Route config naming the OpenAPI path of a route whose fastify URL differs (find-my-way cannot split
 * `name:predict` inside one segment).
 */
export interface DocumentedAs {
  openapi: string;
}
