/**
 * A plain HTTP reverse proxy in front of a loopback service that can inject faults: canned replies
 * (503, 429 ...), a connection reset before any reply, or a reset in the middle of the response body.
 * Written on node:http because the fault injection is the point (no maintained proxy library cuts a
 * response after N bytes); bodies are streamed both ways, never buffered.
 */
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultRule {
  /** Both optional; a rule without a match applies to every request. `path` is tested on path+query. */
  match: { method?: string; path?: RegExp };
  /** How many matching requests it applies to (default 1). */
  times?: number;
  action:
    | { status: number; headers?: Record<string, string>; body?: string }
    | { reset: 'before' }
    | { reset: 'midBody'; afterBytes: number };
}

export interface ProxiedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  path: string;
  /** The status the client got; 0 when the connection was reset before any reply. */
  status: number;
  /** The Authorization header the client sent, if any (to check where credentials go). */
  authorization?: string;
}

export interface FaultProxy {
  url: string;
  /** 127.0.0.1:PORT */
  host: string;
  /** Every request seen, in arrival order. */
  requests: ProxiedRequest[];
  addFault(rule: FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 7.6.1) are per connection: node:http sets its own. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
  return out;
}

interface ActiveRule {
  rule: FaultRule;
  remaining: number;
}

export function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  if (upstream.protocol !== 'http:') throw new Error(`fault proxy target must be http: ${target}`);
  const agent = new Agent({ keepAlive: true });
  const rules: ActiveRule[] = [];
  const requests: ProxiedRequest[] = [];

  const takeRule = (method: string, path: string): FaultRule | undefined => {
    const i = rules.findIndex(
      ({ rule: { match } }) =>
        (match.method === undefined || match.method.toUpperCase() === method) &&
        (match.path === undefined || match.path.test(path)),
    );
    if (i < 0) return undefined;
    const active = rules[i]!;
    active.remaining -= 1;
    if (active.remaining <= 0) rules.splice(i, 1);
    return active.rule;
  };

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    seen: ProxiedRequest,
    cutAfter: number | undefined,
  ): void => {
    const up = httpRequest(
      {
        agent,
        protocol: upstream.protocol,
        hostname: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        // Host is forwarded unchanged so that Location headers point back at the proxy.
        headers: endToEnd(req.headers),
      },
      (upRes) => {
        seen.status = upRes.statusCode ?? 0;
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, endToEnd(upRes.headers));
        if (cutAfter === undefined) {
          upRes.pipe(res);
          return;
        }
        res.flushHeaders();
        let sent = 0;
        let cut = false;
        const cutNow = (): void => {
          if (cut) return;
          cut = true;
          upRes.destroy();
          res.socket?.destroy();
        };
        upRes.on('data', (chunk: Buffer) => {
          if (cut) return;
          const room = cutAfter - sent;
          if (chunk.length < room) {
            sent += chunk.length;
            if (!res.write(chunk)) {
              upRes.pause();
              res.once('drain', () => upRes.resume());
            }
            return;
          }
          // Deliver exactly `cutAfter` bytes, then reset once they have been handed to the kernel.
          upRes.pause();
          if (room > 0) res.write(chunk.subarray(0, room), cutNow);
          else cutNow();
        });
        // A body shorter than the cut: still never complete the response.
        upRes.on('end', cutNow);
      },
    );
    up.on('error', (err) => {
      if (res.headersSent) {
        res.socket?.destroy();
        return;
      }
      seen.status = 502;
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`fault proxy: upstream ${target} failed: ${err.message}`);
    });
    // The client went away (e.g. a retrying uploader cut its request): drop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.url ?? '/';
    const seen: ProxiedRequest = {
      method,
      path,
      status: 0,
      ...(req.headers.authorization !== undefined && { authorization: req.headers.authorization }),
    };
    requests.push(seen);
    const rule = takeRule(method, path);
    const action = rule?.action;
    if (action === undefined) return forward(req, res, seen, undefined);
    if ('status' in action) {
      // Read the request body first so the client sees the reply, not a broken pipe.
      req.resume();
      req.once('end', () => {
        seen.status = action.status;
        res.writeHead(action.status, action.headers ?? {});
        res.end(action.body ?? '');
      });
      return;
    }
    if (action.reset === 'before') {
      req.socket.destroy();
      return;
    }
    forward(req, res, seen, action.afterBytes);
  };

  const server = createServer(handle);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      const host = `127.0.0.1:${port}`;
      resolve({
        url: `http://${host}`,
        host,
        requests,
        addFault(rule) {
          rules.push({ rule, remaining: rule.times ?? 1 });
        },
        clearFaults() {
          rules.length = 0;
        },
        stop() {
          return new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
            agent.destroy();
          });
        },
      });
    });
  });
}
