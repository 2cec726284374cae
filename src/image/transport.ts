/**
 * The registry's HTTP transport, under the distribution protocol (registry.ts) as go-containerregistry's
 * `transport` package sits under `remote`: one `GET /v2/` ping to learn the auth scheme, Basic or Bearer
 * auth (per-repository scopes, tokens cached in auth.ts), one re-auth when a 401 challenges for another
 * scheme or scope, redirects, retries of 408/429/5xx and resets, and the named 401/403 errors. The
 * protocol above sees only the statuses it must interpret (200, 201, 202, 404, ...).
 *
 * The Authorization header goes to the registry's own origin only: an upload Location or a redirect
 * elsewhere (blob storage) is requested without it, as Docker does, and plain http is refused unless the
 * host is loopback or in insecure-registries.
 */
import { Readable } from 'node:stream';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { RetryableError, isRetryableStatus, parseRetryAfter, withRetry } from '../util/retry.js';
import type { RetryOptions } from '../util/retry.js';
import {
  TokenCache,
  basicHeader,
  checkHttpUrl,
  credentialsError,
  hasCredentials,
  parseChallenge,
  permissionError,
  repoScope,
  type Challenge,
  type RegistryCredentials,
} from './auth.js';

export type Access = 'pull' | 'push';

export interface RequestSpec {
  method: string;
  /** Absolute URL or a path under the registry base. */
  url: string;
  repository: string;
  access: Access;
  /** Extra repository pulled from (cross-repo mount). */
  mountFrom?: string;
  headers?: Record<string, string>;
  /** Called for each attempt: a stream body is opened again when the request is retried. */
  body?: () => { body: NonNullable<RequestInit['body']> | Readable; length: number } | undefined;
  /** Follow 3xx for reads (blob storage redirects). */
  followRedirects?: boolean;
}

export interface TransportOptions {
  registry: string;
  baseUrl: string;
  credentials: RegistryCredentials | undefined;
  insecureRegistries: readonly string[];
  fetch: typeof fetch;
  logger: Logger;
  retry: RetryOptions;
  /** Counts every HTTP request sent (the client's `stats`). */
  stats: { requests: number };
}

/** At most this many redirects are followed for one read. */
const MAX_REDIRECTS = 5;

/** The registry's error (`errors[0]`'s code and message) or the start of the body; '' when none. */
export async function errorDetail(res: Response): Promise<string> {
  try {
    const text = await res.text();
    const j = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const e = j.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
    return text.slice(0, 200);
  } catch {
    return '';
  }
}

/** `WHAT answered STATUS (DETAIL)`, reading (and so consuming) the body for the detail. */
export async function describeStatus(res: Response, what: string): Promise<string> {
  const detail = await errorDetail(res);
  return `${what} answered ${res.status}${detail ? ` (${detail})` : ''}`;
}

/** The sent request, its final URL (after redirects) and the Authorization it carried. */
interface Sent {
  res: Response;
  url: URL;
  auth: string | undefined;
}

export class RegistryTransport {
  /** The only origin that gets the Authorization header (besides the token realm's token request). */
  private readonly origin: string;
  private readonly tokens: TokenCache;
  private challenge: Challenge | null | undefined;
  private pinging: Promise<Challenge | null> | undefined;

  constructor(private readonly o: TransportOptions) {
    this.origin = new URL(o.baseUrl).origin;
    const creds = o.credentials;
    if (hasCredentials(creds)) {
      o.logger.secret(creds.password);
      o.logger.secret(basicHeader(creds).slice('Basic '.length));
    }
    this.tokens = new TokenCache({
      registry: o.registry,
      credentials: creds,
      insecureRegistries: o.insecureRegistries,
      fetch: o.fetch,
      logger: o.logger,
    });
  }

  /**
   * One request with auth, redirects, retries (unless `retry` is false: the caller retries a larger
   * unit, a whole upload session or a streamed read) and the named 401/403 errors. Returns any other
   * status, for the protocol to interpret.
   */
  request(spec: RequestSpec, retry = true): Promise<Response> {
    return retry ? withRetry(() => this.attempt(spec), this.o.retry) : this.attempt(spec);
  }

  private async attempt(spec: RequestSpec): Promise<Response> {
    for (let reauthed = false; ; reauthed = true) {
      const sent = await this.send(spec);
      const { res, url } = sent;
      if (isRetryableStatus(res.status)) {
        throw new RetryableError(
          await describeStatus(res, `${spec.method} ${url.pathname}`),
          parseRetryAfter(res.headers.get('retry-after')),
        );
      }
      if ((res.status === 401 || res.status === 403) && url.origin !== this.origin) {
        await res.body?.cancel();
        throw new UserError(
          `${spec.method} ${url.origin}${url.pathname}, where ${this.o.registry} sent this request, answered ${res.status}: that origin is not the registry's, so the registry credentials were not sent there (they go only to ${this.origin} and its token service).`,
          'Configure the registry to hand out upload and blob URLs on its own host (or pre-signed ones), or push to a registry that does.',
        );
      }
      if (res.status === 401) {
        const ch = parseChallenge(res.headers.get('www-authenticate'));
        if (ch) this.challenge = ch;
        if (!reauthed && this.reauthenticate(spec, ch, sent.auth)) {
          await res.body?.cancel();
          continue;
        }
        throw await this.unauthorized(spec, res, ch);
      }
      if (res.status === 403) {
        throw permissionError(this.o.registry, spec.repository, spec.access, await errorDetail(res));
      }
      return res;
    }
  }

  /** Sends the request once (Authorization on the registry's origin only) and follows redirects. */
  private async send(spec: RequestSpec): Promise<Sent> {
    let url = checkHttpUrl(spec.url, this.o.baseUrl, 'request', this.o.insecureRegistries);
    const auth = url.origin === this.origin ? await this.authorization(spec) : undefined;
    const headers: Record<string, string> = { ...spec.headers };
    if (auth) headers['authorization'] = auth;
    const b = spec.body?.();
    if (b) headers['content-length'] = String(b.length);
    const init = (h: Record<string, string>): RequestInit => ({
      method: spec.method,
      headers: h,
      redirect: 'manual',
      ...(b && {
        body:
          b.body instanceof Readable ? (Readable.toWeb(b.body) as unknown as RequestInit['body']) : b.body,
        duplex: 'half',
      }),
    });
    let res = await this.fetch(url, init(headers));
    for (let hops = 0; spec.followRedirects && isRedirect(res.status) && hops < MAX_REDIRECTS; hops++) {
      const loc = res.headers.get('location');
      if (!loc) break;
      await res.body?.cancel();
      url = checkHttpUrl(loc, url.href, 'redirect', this.o.insecureRegistries);
      const h = { ...headers };
      if (url.origin !== this.origin) delete h['authorization'];
      res = await this.fetch(url, init(h));
    }
    return { res, url, auth };
  }

  private fetch(url: URL | string, init?: RequestInit): Promise<Response> {
    this.o.stats.requests++;
    return this.o.fetch(url, init);
  }

  /**
   * A 401 with a challenge: adopt the scheme the registry asks for (a registry may answer /v2/
   * anonymously yet protect repositories), or drop an expired or narrower token. True when the request
   * is worth sending again (once).
   */
  private reauthenticate(spec: RequestSpec, ch: Challenge | undefined, auth: string | undefined): boolean {
    if (!ch || (ch.scheme === 'basic' && auth?.startsWith('Basic '))) return false;
    if (ch.scheme === 'bearer' && auth?.startsWith('Bearer ')) this.tokens.invalidate(this.scopes(spec));
    return ch.scheme === 'bearer' || hasCredentials(this.o.credentials);
  }

  /** The named error of a 401 that re-authenticating did not cure. */
  private async unauthorized(
    spec: RequestSpec,
    res: Response,
    ch: Challenge | undefined,
  ): Promise<UserError> {
    const detail = await errorDetail(res);
    // A token was granted yet refused: the credentials work but lack the access (anonymous requests get
    // the "requires credentials" error instead).
    if (ch?.scheme === 'bearer' && hasCredentials(this.o.credentials)) {
      return permissionError(this.o.registry, spec.repository, spec.access, detail);
    }
    return credentialsError(this.o.registry, spec.repository, this.o.credentials);
  }

  private scopes(spec: RequestSpec): string[] {
    const s = [repoScope(spec.repository, spec.access === 'push' ? 'pull,push' : 'pull')];
    if (spec.mountFrom) s.push(repoScope(spec.mountFrom, 'pull'));
    return s;
  }

  private async authorization(spec: RequestSpec): Promise<string | undefined> {
    const ch = await this.ping();
    if (!ch) return undefined;
    const creds = this.o.credentials;
    if (ch.scheme === 'basic') return hasCredentials(creds) ? basicHeader(creds) : undefined;
    return `Bearer ${await this.tokens.get(ch, this.scopes(spec), spec.repository)}`;
  }

  /** `GET /v2/` once, to learn the auth scheme; concurrent first requests share one ping. */
  private ping(): Promise<Challenge | null> {
    if (this.challenge !== undefined) return Promise.resolve(this.challenge);
    this.pinging ??= this.doPing().finally(() => {
      this.pinging = undefined;
    });
    return this.pinging;
  }

  private async doPing(): Promise<Challenge | null> {
    const { registry, baseUrl } = this.o;
    const res = await withRetry(async () => {
      const r = await this.fetch(`${baseUrl}/v2/`, { redirect: 'follow' });
      if (isRetryableStatus(r.status)) {
        await r.body?.cancel();
        throw new RetryableError(
          `GET /v2/ answered ${r.status}`,
          parseRetryAfter(r.headers.get('retry-after')),
        );
      }
      return r;
    }, this.o.retry).catch((e: unknown) => {
      if (e instanceof UserError) throw e;
      throw new UserError(
        `Cannot reach the registry ${registry} at ${baseUrl}: ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}.`,
        'Check the registry host name and that the runner can reach it (plain http is used only for loopback hosts and insecure-registries).',
      );
    });
    await res.body?.cancel();
    this.challenge =
      res.status === 401 ? (parseChallenge(res.headers.get('www-authenticate')) ?? null) : null;
    return this.challenge;
  }
}

const isRedirect = (status: number): boolean => status >= 300 && status < 400;
