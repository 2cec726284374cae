/**
 * The HTTP application (fastify): JSON parsing whatever the Content-Type, uniform {"error"} replies,
 * one JSON log line per request (request id, route, status, time; never bodies), request metrics, and
 * the protocol routes.
 */
import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Config } from './config.js';
import { HttpError, ServiceError, type ServiceErrorKind } from './errors.js';
import type { Metrics } from './metrics.js';
import type { LineSink } from './log-lines.js';
import { ROUTES } from './routes/index.js';
import type { RouteContext } from './routes/route.js';
import type { Health } from './routes/v2.js';
import type { InferenceService } from './service.js';
import { HEADER_LENGTH, splitBinaryBody } from './binary.js';
import { TensorError } from './tensors.js';
import { lingerIfBodyUnread } from './linger.js';

/** Routes that take tensors (v2 infer, KServe v1 predict): they get MAX_TENSOR_BODY_BYTES. */
const TENSOR_ROUTES = /^\/v2\/models\/.*\/infer$|^\/v1\/models\//;

export interface AppDeps {
  config: Config;
  service: InferenceService;
  metrics: Metrics;
  health: Health;
  /** True once shutdown began: replies then close their connection. */
  stopping(): boolean;
  /** Where log lines go (default: pino's stdout, a write per line). */
  logLines?: LineSink;
}

/** The HTTP status of each kind of service failure (the only place they meet HTTP). */
const SERVICE_STATUS: Record<ServiceErrorKind, number> = {
  'invalid-input': 400,
  'too-large': 413,
  unavailable: 503,
  failed: 500,
};

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

/**
 * A JSON body. Bodies arrive as bytes and must be UTF-8 (RFC 8259): fastify's string parsing would turn
 * invalid bytes into U+FFFD and predict on text the client never sent.
 */
function parseJson(body: Buffer): unknown {
  let text: string;
  try {
    text = utf8.decode(body).trim();
  } catch {
    const at = invalidUtf8Offset(body);
    const where = at >= body.length ? 'it ends inside a character' : `invalid character at byte ${at}`;
    throw new HttpError(
      400,
      `the request body is not valid UTF-8 (${where}); fix: send JSON encoded as UTF-8`,
    );
  }
  if (text === '') throw new HttpError(400, 'the request body is empty; send JSON, e.g. ["I love this"]');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `the request body is not valid JSON (${(err as Error).message})`);
  }
}

export function buildApp({ config, service, metrics, health, stopping, logLines }: AppDeps): FastifyInstance {
  const app = Fastify({
    logger: {
      level: config.logLevel,
      base: { service: 'onnx-inference-server', model: service.info.name },
      // Never log headers (they may carry credentials) or bodies.
      serializers: { req: () => ({}), res: () => ({}) },
      stream: logLines,
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

  // Text routes keep MAX_BODY_BYTES (the app default); tensor routes take MAX_TENSOR_BODY_BYTES.
  app.addHook('onRoute', (route) => {
    if (route.method === 'POST' && TENSOR_ROUTES.test(route.url)) route.bodyLimit = config.maxTensorBodyBytes;
  });

  // Bytes of request bodies held until their reply is sent (or the connection closes), bounded by
  // MAX_QUEUED_BYTES: under a burst, memory stays bounded and the excess gets 503 + Retry-After before
  // its body is parsed. The parser counts a body in; its reply's close counts it out.
  let heldBytes = 0;
  const held = new WeakMap<FastifyRequest, number>();
  // Hooks below take `done` rather than being async: on the hot path of a fast model, each async hook
  // costs a promise and a microtask per request.
  app.addHook('preParsing', (request, reply, payload, done) => {
    reply.raw.once('close', () => {
      heldBytes -= held.get(request) ?? 0;
      held.delete(request);
    });
    done(null, payload);
  });

  // The original Flask app's README posts JSON with curl's default form content type: parse every body
  // as JSON, whatever its Content-Type says; a body with Inference-Header-Content-Length is in the binary
  // tensor data format (a JSON header, then raw tensor bytes), whatever its Content-Type says too.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, payload, done) => {
    const body = payload as Buffer;
    if (heldBytes + body.length > config.maxQueuedBytes) {
      metrics.rejected.inc({ reason: 'queued_bytes' });
      done(
        new HttpError(
          503,
          `the server holds ${heldBytes} bytes of queued requests and this one (${body.length} bytes) would exceed MAX_QUEUED_BYTES=${config.maxQueuedBytes}; retry later`,
          { 'retry-after': String(config.retryAfterSeconds) },
        ),
        undefined,
      );
      return;
    }
    heldBytes += body.length;
    held.set(request, body.length);
    const headerLength = request.headers[HEADER_LENGTH];
    if (typeof headerLength === 'string') {
      try {
        done(null, splitBinaryBody(body, headerLength));
      } catch (err) {
        done(err as Error, undefined);
      }
      return;
    }
    try {
      done(null, parseJson(body));
    } catch (err) {
      const binary = (request.headers['content-type'] ?? '').startsWith('application/octet-stream');
      done(
        binary && err instanceof HttpError
          ? new HttpError(
              400,
              `${err.message}; an application/octet-stream body in the binary tensor data format needs the Inference-Header-Content-Length header (the JSON part's byte length)`,
            )
          : (err as Error),
        undefined,
      );
    }
  });

  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // During shutdown, keep-alive connections would hold the listener open: close each after its reply.
    if (stopping()) reply.header('connection', 'close');
    // A reply before the whole body arrived (a refused body, a route that reads none): should the
    // connection close after it, let the client finish sending and read it.
    lingerIfBodyUnread(request.raw);
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
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
    done();
  });

  app.setErrorHandler((err: FastifyError | HttpError | ServiceError | TensorError, request, reply) => {
    let status: number;
    let message: string;
    if (err instanceof ServiceError) {
      status = SERVICE_STATUS[err.kind];
      message = err.message;
      if (err.retryAfterSeconds !== undefined) reply.header('retry-after', String(err.retryAfterSeconds));
    } else if (err instanceof HttpError) {
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
          ? TENSOR_ROUTES.test(request.routeOptions.url ?? '')
            ? `the request body exceeds ${config.maxTensorBodyBytes} bytes (MAX_TENSOR_BODY_BYTES); fix: send fewer rows per request, or tensors as binary data (Inference-Header-Content-Length), or raise MAX_TENSOR_BODY_BYTES`
            : `the request body exceeds ${config.maxBodyBytes} bytes (MAX_BODY_BYTES); fix: send fewer texts per request or raise MAX_BODY_BYTES`
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

  const port = () => {
    const address = app.server.address();
    return typeof address === 'object' && address ? address.port : config.port;
  };
  const ctx: RouteContext = { service, health, metrics, maxTexts: config.maxTexts, port, routes: ROUTES };
  for (const routes of ROUTES) routes.register(app, ctx);
  return app;
}
