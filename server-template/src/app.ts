/**
 * The HTTP application (fastify): JSON parsing whatever the Content-Type, uniform {"error"} replies,
 * one JSON log line per request (request id, route, status, time; never bodies), request metrics, and
 * the protocol routes.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import type { Config } from './config.js';
import { HttpError } from './errors.js';
import type { Metrics } from './metrics.js';
import { metaRoutes } from './routes/meta.js';
import { predictRoutes } from './routes/predict.js';
import { v1Routes } from './routes/v1.js';
import { type Health, v2Routes } from './routes/v2.js';
import type { InferenceService } from './service.js';
import { TensorError } from './tensors.js';

export interface AppDeps {
  config: Config;
  service: InferenceService;
  metrics: Metrics;
  health: Health;
  /** True once shutdown began: replies then close their connection. */
  stopping(): boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Offset of the first character that makes `bytes` invalid UTF-8 (for the error message). */
function invalidUtf8Offset(bytes: Uint8Array): number {
  // Bisect on the longest valid prefix; `stream` lets a prefix end inside a character.
  let lo = 0;
  let hi = bytes.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  if (lo >= bytes.length) return lo;
  // The bad byte may continue a character that began up to 3 bytes earlier: name where that one began.
  for (let k = lo - 1; k >= Math.max(0, lo - 3); k--) {
    const b = bytes[k] as number;
    if (b >= 0xc0) return k;
    if (b < 0x80) break;
  }
  return lo;
}

export function buildApp({ config, service, metrics, health, stopping }: AppDeps): FastifyInstance {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      base: { service: 'onnx-inference-server', model: service.info.name },
      // Never log headers (they may carry credentials) or bodies.
      serializers: { req: () => ({}), res: () => ({}) },
    },
    bodyLimit: config.maxBodyBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // One line per request from the onResponse hook below instead of fastify's two.
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    return503OnClosing: true,
    routerOptions: { maxParamLength: 500 },
    // Slow clients (a body trickled byte by byte, headers never finished, idle sockets) cannot hold a
    // connection and its buffers forever: Node answers 408 and closes, or closes the idle socket.
    requestTimeout: config.httpRequestTimeoutMs,
    connectionTimeout: config.idleTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: {
      headersTimeout: config.httpHeadersTimeoutMs,
      // Node checks the request and headers timeouts on this interval (30 s by default, which would
      // let a slow client overstay a short timeout by up to that much).
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(
          1000,
          Math.floor(Math.min(config.httpHeadersTimeoutMs, config.httpRequestTimeoutMs || Infinity) / 4),
        ),
      ),
    },
  });
  // Beyond the cap, Node closes each new connection as it arrives (file descriptors and per-socket
  // buffers stay bounded); existing connections keep being served.
  app.server.maxConnections = config.maxConnections;

  // The original Flask app's README posts JSON with curl's default form content type: parse every body
  // as JSON, whatever its Content-Type says.
  app.removeAllContentTypeParsers();
  // Bodies arrive as bytes and must be UTF-8 (RFC 8259): fastify's string parsing would turn invalid
  // bytes into U+FFFD and predict on text the client never sent.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.maxBodyBytes }, (_req, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer).trim();
    } catch {
      const at = invalidUtf8Offset(body as Buffer);
      const where =
        at >= (body as Buffer).length ? 'it ends inside a character' : `invalid character at byte ${at}`;
      done(
        new HttpError(400, `the request body is not valid UTF-8 (${where}); fix: send JSON encoded as UTF-8`),
        undefined,
      );
      return;
    }
    if (text === '') {
      done(new HttpError(400, 'the request body is empty; send JSON, e.g. ["I love this"]'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new HttpError(400, `the request body is not valid JSON (${(err as Error).message})`), undefined);
    }
  });

  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id);
    // During shutdown, keep-alive connections would hold the listener open: close each after its reply.
    if (stopping()) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const seconds = reply.elapsedTime / 1000;
    metrics.requests.inc({ route, method: request.method, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ route }, seconds);
    request.log.info(
      {
        method: request.method,
        route,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 1000) / 1000,
      },
      'request',
    );
  });

  app.setErrorHandler((err: FastifyError | HttpError | TensorError, request, reply) => {
    let status: number;
    let message: string;
    if (err instanceof HttpError) {
      status = err.status;
      message = err.message;
      reply.headers(err.headers);
    } else if (err instanceof TensorError) {
      status = 400;
      message = err.message;
    } else if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
      message =
        err.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
          ? `the request body exceeds ${config.maxBodyBytes} bytes (MAX_BODY_BYTES)`
          : err.message;
    } else {
      status = 500;
      message = 'internal server error';
    }
    if (status >= 500) request.log.error({ status, error: message }, 'request failed');
    else request.log.debug({ status, error: message }, 'request rejected');
    reply.code(status).send({ error: message });
  });

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });

  predictRoutes(app, service, config.maxTexts);
  v2Routes(app, service, health, config.maxTexts);
  v1Routes(app, service, health, config.maxTexts);
  metaRoutes(app, service, metrics, () => {
    const address = app.server.address();
    return typeof address === 'object' && address ? address.port : config.port;
  });
  return app;
}
