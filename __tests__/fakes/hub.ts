/**
 * A local stand-in of the Hugging Face Hub's file resolver over TLS (the test CA, see tls.ts), with a
 * second host as its CDN, kept to the real service's paths, redirects and error shapes:
 *
 * - `GET /{repo}/resolve/{revision}/{file}` answers like huggingface.co: a `307` with a *relative*
 *   `Location: /api/resolve-cache/models/{repo}/{commit}/{file}` for small (non-LFS) files, a `302`
 *   with an *absolute* `Location` on the CDN host (a signed URL) for LFS files; both carry
 *   `X-Repo-Commit`. Errors carry `X-Error-Code` (`RepoNotFound` as a 401 without a token and 404 with
 *   one, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`), `X-Error-Message` and a JSON `{"error"}`.
 * - The CDN (`https://localhost:PORT`, another host than the Hub's `127.0.0.1`) serves the signed
 *   URLs and, like S3 presigned URLs, refuses a request that also carries an Authorization header.
 *
 * No emulator of the Hub exists; this is written on node:https, and records every request.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serverTlsOptions } from './tls.js';

export interface HubRepo {
  /** Files by name; `lfs` ones are redirected to the CDN. */
  files: Record<string, { body: Buffer | string; lfs?: boolean }>;
  /** Branch or tag names (besides the commit itself); default ['main']. */
  refs?: string[];
  /** Readable only with this token (a private repository). */
  token?: string;
  /** Gated: answers 403 GatedRepo to a token without access. */
  gated?: boolean;
}

export interface HubRequest {
  host: 'hub' | 'cdn';
  method: string;
  path: string;
  authorization?: string;
}

export interface FakeHub {
  /** `https://127.0.0.1:PORT` */
  endpoint: string;
  /** `https://localhost:PORT` */
  cdn: string;
  requests: HubRequest[];
  /** Adds a repository; returns its commit sha. */
  addRepo(id: string, repo: HubRepo): string;
  stop(): Promise<void>;
}

function sendError(res: ServerResponse, status: number, code: string, message: string, commit?: string) {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'x-error-code': code,
    'x-error-message': message,
    ...(commit && { 'x-repo-commit': commit }),
  });
  res.end(JSON.stringify({ error: message }));
}

export async function startFakeHub(): Promise<FakeHub> {
  const repos = new Map<string, HubRepo & { commit: string }>();
  const blobs = new Map<string, Buffer>();
  const requests: HubRequest[] = [];
  const tls = serverTlsOptions();
  let cdnOrigin = '';

  const record = (host: 'hub' | 'cdn', req: IncomingMessage) =>
    requests.push({
      host,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      authorization: req.headers.authorization,
    });

  const hub: Server = createServer(tls, (req, res) => {
    record('hub', req);
    const url = new URL(req.url ?? '/', 'https://hub');
    const cached = /^\/api\/resolve-cache\/models\/(.+)\/([0-9a-f]{40})\/([^/]+)$/.exec(url.pathname);
    if (cached) {
      const repo = repos.get(cached[1] as string);
      const file = repo?.files[cached[3] as string];
      if (!repo || repo.commit !== cached[2] || !file)
        return sendError(res, 404, 'EntryNotFound', 'Entry not found');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-repo-commit': repo.commit });
      res.end(file.body);
      return;
    }
    const m = /^\/(.+)\/resolve\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (!m) return sendError(res, 404, 'NotFound', 'Not found');
    const [, id, rawRev, name] = m as unknown as [string, string, string, string];
    const revision = decodeURIComponent(rawRev);
    const repo = repos.get(id);
    const auth = req.headers.authorization;
    const hasToken = typeof auth === 'string' && auth.startsWith('Bearer ');
    if (!repo || (repo.token && auth !== `Bearer ${repo.token}` && !repo.gated)) {
      // Without a token the Hub answers 401 (it does not reveal private repositories), with one 404.
      return sendError(res, hasToken ? 404 : 401, 'RepoNotFound', 'Repository not found');
    }
    if (repo.gated && auth !== `Bearer ${repo.token}`) {
      return sendError(
        res,
        403,
        'GatedRepo',
        `Access to model ${id} is restricted and you are not in the authorized list. Visit https://huggingface.co/${id} to ask for access.`,
      );
    }
    if (revision !== repo.commit && !(repo.refs ?? ['main']).includes(revision)) {
      return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    }
    const file = repo.files[name];
    if (!file) return sendError(res, 404, 'EntryNotFound', 'Entry not found', repo.commit);
    const body = Buffer.from(file.body);
    const common = {
      'x-repo-commit': repo.commit,
      'x-linked-size': String(body.length),
      etag: `"${createHash('sha256').update(body).digest('hex')}"`,
    };
    if (file.lfs) {
      const key = createHash('sha256').update(body).digest('hex');
      blobs.set(key, body);
      res.writeHead(302, {
        ...common,
        location: `${cdnOrigin}/repos/${key.slice(0, 2)}/${key}?X-Amz-Signature=${randomBytes(8).toString('hex')}&X-Amz-Expires=3600`,
      });
    } else {
      res.writeHead(307, {
        ...common,
        location: `/api/resolve-cache/models/${id}/${repo.commit}/${encodeURIComponent(name)}?%2F${id}%2Fresolve%2F${rawRev}%2F${name}=&etag=${common.etag}`,
      });
    }
    res.end();
  });

  const cdn: Server = createServer(tls, (req, res) => {
    record('cdn', req);
    if (req.headers.authorization) {
      res.writeHead(400, { 'content-type': 'application/xml' });
      res.end(
        '<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified</Message></Error>',
      );
      return;
    }
    const key = new URL(req.url ?? '/', 'https://cdn').pathname.split('/').pop() ?? '';
    const body = blobs.get(key);
    if (!body) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<Error><Code>AccessDenied</Code></Error>');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });

  await Promise.all([
    new Promise<void>((r) => hub.listen(0, '127.0.0.1', r)),
    new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r)),
  ]);
  cdnOrigin = `https://localhost:${(cdn.address() as AddressInfo).port}`;

  return {
    endpoint: `https://127.0.0.1:${(hub.address() as AddressInfo).port}`,
    cdn: cdnOrigin,
    requests,
    addRepo(id, repo) {
      const commit = createHash('sha1')
        .update(`${id}${JSON.stringify(Object.keys(repo.files))}`)
        .digest('hex');
      repos.set(id, { ...repo, commit });
      return commit;
    },
    async stop() {
      await Promise.all(
        [hub, cdn].map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))),
      );
    },
  };
}
