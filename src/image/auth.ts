/**
 * Registry authentication: parsing `WWW-Authenticate` challenges, the Bearer token flow (token request
 * with Basic credentials; `token` or `access_token` in the reply), Basic auth, and a per-scope token
 * cache. Every credential and token is handed to `logger.secret` before use.
 */
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { RetryableError, isRetryableStatus, parseRetryAfter } from '../util/retry.js';
import { isInsecureRegistry } from './reference.js';

export interface RegistryCredentials {
  username?: string;
  password?: string;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `Bearer realm="...",service="...",scope="..."` (quoted or token values). */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m?.[1]) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/g;
  for (let p = re.exec(m[2] ?? ''); p; p = re.exec(m[2] ?? '')) {
    if (p[1]) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

export function hasCredentials(c: RegistryCredentials | undefined): c is Required<RegistryCredentials> {
  return !!c?.username && !!c.password;
}

export function basicHeader(c: Required<RegistryCredentials>): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

/**
 * Checks a URL the registry gave us (token realm, upload Location, redirect): http(s) only, and plain
 * http only to a loopback host or one named in `insecure-registries` (as Docker allows), so neither
 * credentials nor image bytes travel unencrypted because a registry (or someone in its path) says so.
 */
export function checkHttpUrl(
  u: string,
  base: string | undefined,
  what: string,
  insecureRegistries: readonly string[] = [],
): URL {
  let url: URL;
  try {
    url = new URL(u, base);
  } catch {
    throw new Error(`registry sent an invalid ${what} URL '${u}'`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(
      `registry sent a ${what} URL with scheme ${url.protocol} (only http and https are followed)`,
    );
  }
  if (url.protocol === 'http:' && !isInsecureRegistry(url.host, insecureRegistries)) {
    throw new UserError(
      `The registry's ${what} is on plain http (${url.origin}${url.pathname}); it was refused, and no credentials or image bytes were sent there.`,
      `Serve the registry (and its token service) over https, or, on a trusted network, add '${url.host}' to insecure-registries.`,
    );
  }
  return url;
}

/** `repository:NAME:ACTIONS`. */
export function repoScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

export interface TokenSourceOptions {
  registry: string;
  credentials?: RegistryCredentials;
  insecureRegistries?: readonly string[];
  fetch: typeof fetch;
  logger: Logger;
}

/** Bearer tokens per scope set, fetched from the challenge's realm. */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expires: number }>();
  constructor(private readonly opts: TokenSourceOptions) {}

  invalidate(scopes: string[]): void {
    this.tokens.delete(scopes.join(' '));
  }

  private readonly inflight = new Map<string, Promise<string>>();

  /** A token for `scopes` (cached until it expires; concurrent callers share one request). */
  get(challenge: Challenge, scopes: string[], subject: string): Promise<string> {
    const key = scopes.join(' ');
    const hit = this.tokens.get(key);
    if (hit && hit.expires > Date.now()) return Promise.resolve(hit.token);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetchToken(challenge, scopes, subject, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetchToken(
    challenge: Challenge,
    scopes: string[],
    subject: string,
    key: string,
  ): Promise<string> {
    const realm = challenge.params['realm'];
    if (!realm) throw new Error(`${this.opts.registry} sent a Bearer challenge without a realm`);
    // The realm may be another host (auth.docker.io, ghcr.io/token): it gets the credentials, over https.
    const url = checkHttpUrl(realm, undefined, 'token realm', this.opts.insecureRegistries);
    if (challenge.params['service']) url.searchParams.set('service', challenge.params['service']);
    for (const s of scopes) url.searchParams.append('scope', s);
    const creds = this.opts.credentials;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (hasCredentials(creds)) {
      this.opts.logger.secret(creds.password);
      const h = basicHeader(creds);
      this.opts.logger.secret(h.slice('Basic '.length));
      headers['authorization'] = h;
    }
    const res = await this.opts.fetch(url, { headers, redirect: 'follow' });
    if (isRetryableStatus(res.status)) {
      await res.body?.cancel();
      throw new RetryableError(
        `token endpoint ${url.host} answered ${res.status}`,
        parseRetryAfter(res.headers.get('retry-after')),
      );
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw credentialsError(this.opts.registry, subject, creds);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`token endpoint ${url.origin}${url.pathname} answered HTTP ${res.status}`);
    }
    const body = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new Error(`token endpoint ${url.origin}${url.pathname} sent no token`);
    this.opts.logger.secret(token);
    const ttl = Math.max(30, (body.expires_in ?? 60) - 10) * 1000;
    this.tokens.set(key, { token, expires: Date.now() + ttl });
    return token;
  }
}

/** 401: the named error for rejected (or missing) credentials. */
export function credentialsError(
  registry: string,
  repository: string,
  creds: RegistryCredentials | undefined,
): UserError {
  if (!hasCredentials(creds)) {
    return new UserError(
      `${registry} requires credentials for ${repository}, and none were given.`,
      'Log in with docker/login-action before this step, or set registry-username and registry-password (base-registry-username/-password for a private base image on another host).',
    );
  }
  return new UserError(
    `Registry credentials rejected by ${registry} for ${repository} (user '${creds.username}').`,
    registry === 'ghcr.io'
      ? 'Use registry-password: ${{ secrets.GITHUB_TOKEN }} (or a PAT with write:packages) and the matching registry-username.'
      : 'Check registry-username and registry-password (a token with access to this repository).',
  );
}

/** 401 after a fresh token, or 403: the credentials work but lack the permission. */
export function permissionError(
  registry: string,
  repository: string,
  action: 'push' | 'pull',
  detail: string,
): UserError {
  const what = `${registry} denied ${action} access to ${repository}${detail ? ` (${detail})` : ''}.`;
  if (registry === 'ghcr.io') {
    return new UserError(
      what,
      action === 'push'
        ? "Add `permissions: packages: write` to the job, and if the package already exists, give this repository Write access in the package's settings (Manage Actions access)."
        : "Add `permissions: packages: read`, and give this repository access in the package's settings (Manage Actions access).",
    );
  }
  return new UserError(
    what,
    action === 'push'
      ? 'Use credentials allowed to push to this repository (the token needs the push scope).'
      : 'Use credentials allowed to pull this repository (base-registry-username/-password for another host).',
  );
}
