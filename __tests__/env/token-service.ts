/**
 * A small bearer-token service for Debian's docker-registry, modelled on GHCR / Docker Hub
 * (distribution token spec: https://distribution.github.io/distribution/spec/auth/token/).
 * `GET /token?service=S&scope=repository:NAME:pull,push` with Basic credentials (or the OAuth2
 * `POST /token` password grant) returns `{ token, access_token, expires_in, issued_at }`: an RS256 JWT
 * whose `x5c` header carries a self-signed certificate the registry trusts via `rootcertbundle`.
 * Anonymous requests get a token without access; wrong credentials get 401.
 *
 * Signing is done with node:crypto: a JWS is three base64url parts and one RSA signature, and no
 * direct dependency of this repo issues JWTs with an x5c header.
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createPrivateKey, randomUUID, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { requireCommand } from './proc.js';

const run = promisify(execFile);

export type Action = 'pull' | 'push' | 'delete';

export interface TokenUser {
  username: string;
  password: string;
  /** Actions granted on every repository. */
  actions: Action[];
}

export interface IssuedToken {
  /** '' for anonymous requests. */
  username: string;
  /** The scopes the client asked for, as sent (`repository:NAME:pull,push`). */
  scopes: string[];
  /** What the token grants, in the same notation (an entry per requested resource, maybe no actions). */
  granted: string[];
}

export interface TokenService {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate of the signing key: the registry's `auth.token.rootcertbundle`. */
  certPath: string;
  issued(): IssuedToken[];
  stop(): Promise<void>;
}

interface SigningKey {
  key: KeyObject;
  certDerBase64: string;
}

/** A self-signed RSA key + certificate made with openssl in `dir`. */
async function makeSigningKey(dir: string): Promise<{ signing: SigningKey; certPath: string }> {
  const openssl = requireCommand('openssl', 'openssl');
  const keyPath = join(dir, 'token-signing.key');
  const certPath = join(dir, 'token-signing.crt');
  await run(openssl, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '3650',
    '-subj',
    '/CN=package-onnx-model test token issuer',
    '-keyout',
    keyPath,
    '-out',
    certPath,
  ]);
  const [keyPem, certPem] = await Promise.all([readFile(keyPath), readFile(certPath)]);
  return {
    signing: {
      key: createPrivateKey(keyPem),
      certDerBase64: new X509Certificate(certPem).raw.toString('base64'),
    },
    certPath,
  };
}

const b64url = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

function signJwt(signing: SigningKey, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [signing.certDerBase64] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), signing.key);
  return `${input}.${b64url(signature)}`;
}

interface ParsedScope {
  type: string;
  name: string;
  actions: string[];
}

/** `repository:ns/name:pull,push` (the name may contain ':' only before a port, which it does not here). */
function parseScope(scope: string): ParsedScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function basicCredentials(req: IncomingMessage): { username: string; password: string } | undefined {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return undefined;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i < 0) return undefined;
  return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const TOKEN_TTL_S = 300;

export async function startTokenService(opts: {
  dir: string;
  service: string;
  users: TokenUser[];
}): Promise<TokenService> {
  const { signing, certPath } = await makeSigningKey(opts.dir);
  const issuer = 'package-onnx-model-test-token-issuer';
  const issued: IssuedToken[] = [];

  const deny = (res: ServerResponse, message: string): void => {
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': 'Basic realm="token"',
    });
    res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message }] }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.local');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      res.writeHead(404).end();
      return;
    }
    let creds = basicCredentials(req);
    let scopes = url.searchParams.getAll('scope');
    let service = url.searchParams.get('service');
    if (req.method === 'POST') {
      // OAuth2 password grant (what `docker` uses when it has a refresh token or is told to).
      const form = new URLSearchParams(await readBody(req));
      if (form.get('grant_type') === 'password') {
        creds = { username: form.get('username') ?? '', password: form.get('password') ?? '' };
      }
      scopes = form
        .getAll('scope')
        .flatMap((s) => s.split(' '))
        .filter(Boolean);
      service = form.get('service');
    }
    if (service !== null && service !== opts.service) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED', message: `unknown service ${service}` }] }));
      return;
    }
    let user: TokenUser | undefined;
    if (creds) {
      user = opts.users.find((u) => u.username === creds.username && u.password === creds.password);
      if (!user) return deny(res, 'incorrect username or password');
    }
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    for (const s of scopes) {
      const p = parseScope(s);
      if (!p) continue;
      const allowed: string[] = user && p.type === 'repository' ? user.actions : [];
      const actions = p.actions.flatMap((a) => (a === '*' ? allowed : allowed.includes(a) ? [a] : []));
      access.push({ type: p.type, name: p.name, actions: [...new Set(actions)] });
    }
    const now = Math.floor(Date.now() / 1000);
    const token = signJwt(signing, {
      iss: issuer,
      sub: user?.username ?? '',
      aud: opts.service,
      exp: now + TOKEN_TTL_S,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    issued.push({
      username: user?.username ?? '',
      scopes,
      granted: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`),
    });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        token,
        access_token: token,
        expires_in: TOKEN_TTL_S,
        issued_at: new Date(now * 1000).toISOString(),
      }),
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`token service error: ${e instanceof Error ? e.message : String(e)}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: opts.service,
    issuer,
    certPath,
    issued: () => issued.map((t) => ({ ...t, scopes: [...t.scopes], granted: [...t.granted] })),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
