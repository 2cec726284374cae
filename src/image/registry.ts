/**
 * OCI distribution API client. Written by hand because no maintained npm package speaks the
 * distribution spec with the pieces this action needs (Bearer token flow with per-repository scopes,
 * cross-repository mount, chunked uploads, digest-verified streaming reads, redirects that drop the
 * Authorization header, injectable fetch for tests); the few that exist are unmaintained or
 * Docker-daemon clients.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import {
  RetryableError,
  isRetryableStatus,
  parseRetryAfter,
  withRetry,
  type RetryOptions,
} from '../util/retry.js';
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
import { BlobStore, DigestMismatchError, sha256 } from './blobs.js';
import { MANIFEST_ACCEPT } from './oci.js';
import { registryBaseUrl } from './reference.js';

export type { RegistryCredentials } from './auth.js';

export interface RegistryClientOptions {
  registry: string;
  credentials?: RegistryCredentials;
  insecureRegistries?: string[];
  fetch?: typeof fetch;
  logger: Logger;
  retry?: RetryOptions;
  /** Blobs up to this size go in one PUT; larger ones in PATCH chunks of `chunkSize`. */
  monolithicLimit?: number;
  chunkSize?: number;
  /** Aborts every request of this client (a push stops all uploads on its first failure). */
  signal?: AbortSignal;
}

/** An HTTP status the client does not turn into a named error itself (404s, mostly). */
export class RegistryHttpError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'RegistryHttpError';
  }
}

type Access = 'pull' | 'push';

interface RequestSpec {
  method: string;
  /** Absolute URL or a path under the registry base. */
  url: string;
  repository: string;
  access: Access;
  /** Extra repository pulled from (cross-repo mount). */
  mountFrom?: string;
  headers?: Record<string, string>;
  body?: () => { body: NonNullable<RequestInit['body']> | Readable; length: number } | undefined;
  /** Follow 3xx for reads (blob storage redirects). */
  followRedirects?: boolean;
}

/** Where a blob's bytes come from when uploading. */
export interface BlobSource {
  digest: string;
  size: number;
  /** A stream of bytes [start, end) of the blob. */
  open(start?: number, end?: number): Readable;
}

/** A file that may not exist yet: `locate` runs (once) when the bytes are first needed. */
export function lazyBlobSource(locate: () => Promise<string>, digest: string, size: number): BlobSource {
  let path: Promise<string> | undefined;
  return {
    digest,
    size,
    open: (start = 0, end = size) =>
      Readable.from(
        (async function* () {
          path ??= locate();
          const file = await path.catch((e: unknown) => {
            path = undefined;
            throw e;
          });
          if (end > start) yield* createReadStream(file, { start, end: end - 1, highWaterMark: 1 << 20 });
        })(),
      ),
  };
}

export function bufferBlobSource(data: Buffer): BlobSource {
  return {
    digest: sha256(data),
    size: data.length,
    open: (s = 0, e = data.length) => Readable.from([data.subarray(s, e)]),
  };
}

const errorDetail = async (res: Response): Promise<string> => {
  try {
    const text = await res.text();
    const j = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const e = j.errors?.[0];
    if (e) return [e.code, e.message].filter(Boolean).join(': ');
    return text.slice(0, 200);
  } catch {
    return '';
  }
};

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  /** The only origin that gets the Authorization header (besides the token realm's token request). */
  private readonly origin: string;
  private readonly insecure: readonly string[];
  private readonly f: typeof fetch;
  private readonly logger: Logger;
  private readonly creds: RegistryCredentials | undefined;
  private readonly tokens: TokenCache;
  private challenge: Challenge | null | undefined;
  private pinging: Promise<Challenge | null> | undefined;
  private readonly retry: RetryOptions;
  /** Blob transfers may take minutes: their retry budget is not the 2 minutes of small requests. */
  private readonly longRetry: RetryOptions;
  readonly monolithicLimit: number;
  readonly chunkSize: number;
  /** Counters for reporting and tests. */
  readonly stats = { requests: 0, bytesUploaded: 0 };

  constructor(opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.baseUrl = registryBaseUrl(opts.registry, opts.insecureRegistries);
    this.origin = new URL(this.baseUrl).origin;
    this.insecure = opts.insecureRegistries ?? [];
    const f = opts.fetch ?? fetch;
    const signal = opts.signal;
    this.f = signal ? (input, init) => f(input, { ...init, signal }) : f;
    this.logger = opts.logger;
    this.creds = opts.credentials;
    if (hasCredentials(this.creds)) {
      this.logger.secret(this.creds.password);
      this.logger.secret(basicHeader(this.creds).slice('Basic '.length));
    }
    this.tokens = new TokenCache({
      registry: opts.registry,
      credentials: opts.credentials,
      insecureRegistries: this.insecure,
      fetch: this.f,
      logger: opts.logger,
    });
    this.retry = {
      onRetry: (i) =>
        this.logger.warning(`Registry ${this.registry}: retrying in ${i.delayMs} ms (${i.reason})`),
      ...opts.retry,
    };
    this.longRetry = { totalBudgetMs: 60 * 60_000, ...this.retry };
    this.monolithicLimit = opts.monolithicLimit ?? 128 * 1024 * 1024;
    this.chunkSize = opts.chunkSize ?? 64 * 1024 * 1024;
  }

  private scopes(spec: RequestSpec): string[] {
    const s = [repoScope(spec.repository, spec.access === 'push' ? 'pull,push' : 'pull')];
    if (spec.mountFrom) s.push(repoScope(spec.mountFrom, 'pull'));
    return s;
  }

  /** `GET /v2/` once, to learn the auth scheme. */
  private ping(): Promise<Challenge | null> {
    if (this.challenge !== undefined) return Promise.resolve(this.challenge);
    // Concurrent first requests share one ping.
    this.pinging ??= this.doPing().finally(() => {
      this.pinging = undefined;
    });
    return this.pinging;
  }

  private async doPing(): Promise<Challenge | null> {
    const res = await withRetry(async () => {
      this.stats.requests++;
      const r = await this.f(`${this.baseUrl}/v2/`, { redirect: 'follow' });
      if (isRetryableStatus(r.status)) {
        await r.body?.cancel();
        throw new RetryableError(
          `GET /v2/ answered ${r.status}`,
          parseRetryAfter(r.headers.get('retry-after')),
        );
      }
      return r;
    }, this.retry).catch((e: unknown) => {
      if (e instanceof UserError) throw e;
      throw new UserError(
        `Cannot reach the registry ${this.registry} at ${this.baseUrl}: ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}.`,
        'Check the registry host name and that the runner can reach it (plain http is used only for loopback hosts and insecure-registries).',
      );
    });
    await res.body?.cancel();
    this.challenge =
      res.status === 401 ? (parseChallenge(res.headers.get('www-authenticate')) ?? null) : null;
    return this.challenge;
  }

  private async authHeader(spec: RequestSpec): Promise<string | undefined> {
    const ch = await this.ping();
    if (!ch) return undefined;
    if (ch.scheme === 'basic') return hasCredentials(this.creds) ? basicHeader(this.creds) : undefined;
    return `Bearer ${await this.tokens.get(ch, this.scopes(spec), spec.repository)}`;
  }

  /**
   * One request with auth, retries (408/429/5xx, resets; `Retry-After`), redirects and the named
   * 401/403 errors. Returns any other status. The Authorization header goes to the registry's own
   * origin only: an upload Location or a redirect elsewhere (blob storage) is requested without it, as
   * Docker does, and plain http is refused unless the host is loopback or in insecure-registries.
   */
  private async request(spec: RequestSpec, retry = true): Promise<Response> {
    const attempt = async (): Promise<Response> => {
      let reauthed = false;
      for (;;) {
        let url = checkHttpUrl(spec.url, this.baseUrl, 'request', this.insecure);
        const foreign = url.origin !== this.origin;
        const auth = foreign ? undefined : await this.authHeader(spec);
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
              b.body instanceof Readable
                ? (Readable.toWeb(b.body) as unknown as RequestInit['body'])
                : b.body,
            duplex: 'half',
          }),
        });
        this.stats.requests++;
        let res = await this.f(url, init(headers));
        for (
          let hops = 0;
          spec.followRedirects && res.status >= 300 && res.status < 400 && hops < 5;
          hops++
        ) {
          const loc = res.headers.get('location');
          if (!loc) break;
          await res.body?.cancel();
          const next = checkHttpUrl(loc, url.href, 'redirect', this.insecure);
          const h = { ...headers };
          if (next.origin !== this.origin) delete h['authorization'];
          url = next;
          this.stats.requests++;
          res = await this.f(url, init(h));
        }
        if (isRetryableStatus(res.status)) {
          const detail = await errorDetail(res);
          throw new RetryableError(
            `${spec.method} ${url.pathname} answered ${res.status}${detail ? ` (${detail})` : ''}`,
            parseRetryAfter(res.headers.get('retry-after')),
          );
        }
        if ((res.status === 401 || res.status === 403) && url.origin !== this.origin) {
          await res.body?.cancel();
          throw new UserError(
            `${spec.method} ${url.origin}${url.pathname}, where ${this.registry} sent this request, answered ${res.status}: that origin is not the registry's, so the registry credentials were not sent there (they go only to ${this.origin} and its token service).`,
            'Configure the registry to hand out upload and blob URLs on its own host (or pre-signed ones), or push to a registry that does.',
          );
        }
        if (res.status === 401) {
          const detail = await errorDetail(res);
          const ch = parseChallenge(res.headers.get('www-authenticate'));
          if (ch) this.challenge = ch;
          // Once per request: adopt the scheme the registry asks for (a registry may answer /v2/
          // anonymously yet protect repositories), or refresh an expired or narrower token.
          if (!reauthed && ch && !(ch.scheme === 'basic' && auth?.startsWith('Basic '))) {
            reauthed = true;
            if (ch.scheme === 'bearer' && auth?.startsWith('Bearer '))
              this.tokens.invalidate(this.scopes(spec));
            if (ch.scheme === 'bearer' || hasCredentials(this.creds)) continue;
          }
          // A token was granted yet refused: the credentials work but lack the access (anonymous
          // requests get the "requires credentials" error instead).
          if (ch?.scheme === 'bearer' && hasCredentials(this.creds)) {
            throw permissionError(this.registry, spec.repository, spec.access, detail);
          }
          throw credentialsError(this.registry, spec.repository, this.creds);
        }
        if (res.status === 403) {
          throw permissionError(this.registry, spec.repository, spec.access, await errorDetail(res));
        }
        return res;
      }
    };
    return retry ? withRetry(attempt, this.retry) : attempt();
  }

  private repoUrl(repository: string, rest: string): string {
    return `${this.baseUrl}/v2/${repository}/${rest}`;
  }

  /** A manifest or index by tag or digest; the bytes are verified when fetched by digest. */
  async getManifest(
    repository: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string | undefined; digest: string }> {
    const res = await this.request({
      method: 'GET',
      url: this.repoUrl(repository, `manifests/${reference}`),
      repository,
      access: 'pull',
      headers: { accept: MANIFEST_ACCEPT },
      followRedirects: true,
    });
    if (res.status !== 200) {
      const detail = await errorDetail(res);
      throw new RegistryHttpError(
        `GET manifest ${repository}:${reference} answered ${res.status}${detail ? ` (${detail})` : ''}`,
        res.status,
      );
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new DigestMismatchError(`manifest ${repository}@${reference}`, reference, digest);
    }
    return { bytes, mediaType: res.headers.get('content-type') ?? undefined, digest };
  }

  /** Digest of a manifest by tag, or undefined when the tag does not exist. */
  async headManifest(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.request({
      method: 'HEAD',
      url: this.repoUrl(repository, `manifests/${reference}`),
      repository,
      access: 'pull',
      headers: { accept: MANIFEST_ACCEPT },
      followRedirects: true,
    });
    await res.body?.cancel();
    if (res.status === 404) return undefined;
    if (res.status !== 200)
      throw new RegistryHttpError(
        `HEAD manifest ${repository}:${reference} answered ${res.status}`,
        res.status,
      );
    return res.headers.get('docker-content-digest') ?? undefined;
  }

  /** GET of a blob, without retries of its own: callers retry the whole read (body included). */
  private async blobResponse(repository: string, digest: string): Promise<Response> {
    const res = await this.request(
      {
        method: 'GET',
        url: this.repoUrl(repository, `blobs/${digest}`),
        repository,
        access: 'pull',
        followRedirects: true,
      },
      false,
    );
    if (res.status !== 200 || !res.body) {
      const detail = await errorDetail(res);
      throw new RegistryHttpError(
        `GET blob ${repository}@${digest} answered ${res.status}${detail ? ` (${detail})` : ''}`,
        res.status,
      );
    }
    return res;
  }

  /**
   * A blob's bytes as they stream, NOT verified: the caller hashes them and must not use any byte
   * before the digest checked (`verifyReusable` does). No retries: the caller decides what a failure means.
   */
  async openBlob(repository: string, digest: string): Promise<Readable> {
    const res = await this.blobResponse(repository, digest);
    return Readable.fromWeb(res.body as WebReadableStream);
  }

  /** A small blob (a config) in memory, digest-verified. */
  async readBlob(repository: string, digest: string): Promise<Buffer> {
    return withRetry(async () => {
      const res = await this.blobResponse(repository, digest);
      const bytes = Buffer.from(await res.arrayBuffer());
      const got = sha256(bytes);
      if (got !== digest) throw new DigestMismatchError(`blob ${repository}@${digest}`, digest, got);
      return bytes;
    }, this.retry);
  }

  /** Streams a blob into the store, digest-verified (a mismatch stores nothing). Retries resets. */
  async fetchBlob(repository: string, digest: string, store: BlobStore): Promise<void> {
    if (await store.has(digest)) return;
    await withRetry(async () => {
      const res = await this.blobResponse(repository, digest);
      await store.putStream(
        Readable.fromWeb(res.body as WebReadableStream),
        digest,
        `blob ${repository}@${digest}`,
      );
    }, this.longRetry);
  }

  /** True when the repository already has the blob. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.request({
      method: 'HEAD',
      url: this.repoUrl(repository, `blobs/${digest}`),
      repository,
      access: 'push',
      followRedirects: true,
    });
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw new RegistryHttpError(`HEAD blob ${repository}@${digest} answered ${res.status}`, res.status);
  }

  private location(res: Response, from: string): string {
    const loc = res.headers.get('location');
    if (!loc) throw new Error(`${this.registry} sent no upload Location`);
    return checkHttpUrl(loc, from, 'upload Location', this.insecure).href;
  }

  /**
   * Pushes one blob: HEAD (skip when present), else cross-repo mount from `mountFrom` when given (falls
   * back to an upload when the registry declines), else a monolithic POST + PUT, or chunked PATCHes for
   * blobs above `monolithicLimit`. The whole upload session is retried on 408/429/5xx and resets.
   */
  async pushBlob(
    repository: string,
    blob: BlobSource,
    mountFrom?: string,
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    if (await this.hasBlob(repository, blob.digest)) return 'exists';
    return withRetry(async () => {
      const start = mountFrom
        ? this.repoUrl(
            repository,
            `blobs/uploads/?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(mountFrom)}`,
          )
        : this.repoUrl(repository, 'blobs/uploads/');
      const res = await this.request(
        {
          method: 'POST',
          url: start,
          repository,
          access: 'push',
          ...(mountFrom && { mountFrom }),
          body: () => ({ body: new Uint8Array(0), length: 0 }),
        },
        false,
      );
      await res.body?.cancel();
      if (res.status === 201 && mountFrom) return 'mounted';
      if (res.status !== 202)
        throw new RegistryHttpError(`POST blob upload to ${repository} answered ${res.status}`, res.status);
      let location = this.location(res, start);
      if (blob.size > this.monolithicLimit) {
        for (let offset = 0; offset < blob.size;) {
          const end = Math.min(blob.size, offset + this.chunkSize);
          const from = offset;
          const patch = await this.request(
            {
              method: 'PATCH',
              url: location,
              repository,
              access: 'push',
              headers: { 'content-type': 'application/octet-stream', 'content-range': `${from}-${end - 1}` },
              body: () => ({ body: blob.open(from, end), length: end - from }),
            },
            false,
          );
          await patch.body?.cancel();
          if (patch.status !== 202)
            throw new RegistryHttpError(
              `PATCH blob chunk to ${repository} answered ${patch.status}`,
              patch.status,
            );
          location = this.location(patch, location);
          this.stats.bytesUploaded += end - from;
          offset = end;
        }
      }
      const put = new URL(location);
      put.searchParams.set('digest', blob.digest);
      const monolithic = blob.size <= this.monolithicLimit;
      const done = await this.request(
        {
          method: 'PUT',
          url: put.href,
          repository,
          access: 'push',
          headers: { 'content-type': 'application/octet-stream' },
          body: () =>
            monolithic ? { body: blob.open(), length: blob.size } : { body: new Uint8Array(0), length: 0 },
        },
        false,
      );
      const detail = done.status === 201 ? '' : await errorDetail(done);
      await done.body?.cancel().catch(() => undefined);
      if (done.status !== 201)
        throw new RegistryHttpError(
          `PUT blob ${blob.digest} to ${repository} answered ${done.status}${detail ? ` (${detail})` : ''}`,
          done.status,
        );
      if (monolithic) this.stats.bytesUploaded += blob.size;
      return 'uploaded' as const;
    }, this.longRetry);
  }

  /**
   * PUT a manifest or index under a tag or its digest; returns the digest the registry reports.
   * `onHeaders` sees the response's headers (a referrer push reads `OCI-Subject` from them).
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
    onHeaders?: (headers: Headers) => void,
  ): Promise<string> {
    const res = await this.request({
      method: 'PUT',
      url: this.repoUrl(repository, `manifests/${reference}`),
      repository,
      access: 'push',
      headers: { 'content-type': mediaType },
      body: () => ({ body: new Uint8Array(bytes), length: bytes.length }),
    });
    const detail = res.status === 201 ? '' : await errorDetail(res);
    await res.body?.cancel().catch(() => undefined);
    if (res.status !== 201) {
      throw new RegistryHttpError(
        `PUT manifest ${repository}:${reference} answered ${res.status}${detail ? ` (${detail})` : ''}`,
        res.status,
      );
    }
    this.stats.bytesUploaded += bytes.length;
    onHeaders?.(res.headers);
    return res.headers.get('docker-content-digest') ?? sha256(bytes);
  }
}
