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
import type { Logger } from '../util/log.js';
import { withRetry, type RetryOptions } from '../util/retry.js';
import { checkHttpUrl, type RegistryCredentials } from './auth.js';
import { BlobStore, DigestMismatchError, sha256 } from './blobs.js';
import { MANIFEST_ACCEPT } from './oci.js';
import { registryBaseUrl } from './reference.js';
import { RegistryTransport, describeStatus } from './transport.js';

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

/**
 * The one check of a protocol step's status: any other than `expected` throws a RegistryHttpError
 * `WHAT answered STATUS (registry's error)`, its body read for the detail. On success the body is left
 * to the caller.
 */
async function expectStatus(res: Response, what: string, ...expected: number[]): Promise<void> {
  if (!expected.includes(res.status))
    throw new RegistryHttpError(await describeStatus(res, what), res.status);
}

/** Discards a body the protocol does not read. */
const discard = (res: Response): Promise<void> =>
  res.body?.cancel().catch(() => undefined) ?? Promise.resolve();

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

export class RegistryClient {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly insecure: readonly string[];
  private readonly logger: Logger;
  private readonly http: RegistryTransport;
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
    this.insecure = opts.insecureRegistries ?? [];
    this.logger = opts.logger;
    this.retry = {
      onRetry: (i) =>
        this.logger.warning(`Registry ${this.registry}: retrying in ${i.delayMs} ms (${i.reason})`),
      ...opts.retry,
    };
    this.longRetry = { totalBudgetMs: 60 * 60_000, ...this.retry };
    const f = opts.fetch ?? fetch;
    const signal = opts.signal;
    this.http = new RegistryTransport({
      registry: opts.registry,
      baseUrl: this.baseUrl,
      credentials: opts.credentials,
      insecureRegistries: this.insecure,
      fetch: signal ? (input, init) => f(input, { ...init, signal }) : f,
      logger: opts.logger,
      retry: this.retry,
      stats: this.stats,
    });
    this.monolithicLimit = opts.monolithicLimit ?? 128 * 1024 * 1024;
    this.chunkSize = opts.chunkSize ?? 64 * 1024 * 1024;
  }

  private repoUrl(repository: string, rest: string): string {
    return `${this.baseUrl}/v2/${repository}/${rest}`;
  }

  /** A manifest or index by tag or digest; the bytes are verified when fetched by digest. */
  async getManifest(
    repository: string,
    reference: string,
  ): Promise<{ bytes: Buffer; mediaType: string | undefined; digest: string }> {
    const res = await this.http.request({
      method: 'GET',
      url: this.repoUrl(repository, `manifests/${reference}`),
      repository,
      access: 'pull',
      headers: { accept: MANIFEST_ACCEPT },
      followRedirects: true,
    });
    await expectStatus(res, `GET manifest ${repository}:${reference}`, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new DigestMismatchError(`manifest ${repository}@${reference}`, reference, digest);
    }
    return { bytes, mediaType: res.headers.get('content-type') ?? undefined, digest };
  }

  /** Digest of a manifest by tag, or undefined when the tag does not exist. */
  async headManifest(repository: string, reference: string): Promise<string | undefined> {
    const res = await this.http.request({
      method: 'HEAD',
      url: this.repoUrl(repository, `manifests/${reference}`),
      repository,
      access: 'pull',
      headers: { accept: MANIFEST_ACCEPT },
      followRedirects: true,
    });
    await expectStatus(res, `HEAD manifest ${repository}:${reference}`, 200, 404);
    await discard(res);
    return res.status === 404 ? undefined : (res.headers.get('docker-content-digest') ?? undefined);
  }

  /** GET of a blob, without retries of its own: callers retry the whole read (body included). */
  private async blobResponse(repository: string, digest: string): Promise<Response> {
    const res = await this.http.request(
      {
        method: 'GET',
        url: this.repoUrl(repository, `blobs/${digest}`),
        repository,
        access: 'pull',
        followRedirects: true,
      },
      false,
    );
    const what = `GET blob ${repository}@${digest}`;
    await expectStatus(res, what, 200);
    if (!res.body) throw new RegistryHttpError(`${what} answered ${res.status} without a body`, res.status);
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
    const res = await this.http.request({
      method: 'HEAD',
      url: this.repoUrl(repository, `blobs/${digest}`),
      repository,
      access: 'push',
      followRedirects: true,
    });
    await expectStatus(res, `HEAD blob ${repository}@${digest}`, 200, 404);
    await discard(res);
    return res.status === 200;
  }

  /**
   * Pushes one blob: HEAD (skip when present), else cross-repo mount from `mountFrom` when given (falls
   * back to an upload when the registry declines), else an upload session: opened, streamed, committed
   * (go-containerregistry's remote/write.go shape). The whole session is retried on 408/429/5xx and
   * resets.
   */
  async pushBlob(
    repository: string,
    blob: BlobSource,
    mountFrom?: string,
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    if (await this.hasBlob(repository, blob.digest)) return 'exists';
    return withRetry(async () => {
      const session = await this.initiateUpload(repository, blob.digest, mountFrom);
      if (session.mounted) return 'mounted';
      const location = await this.streamBlob(repository, blob, session.location);
      await this.commitBlob(repository, blob, location);
      return 'uploaded';
    }, this.longRetry);
  }

  /**
   * `POST /blobs/uploads/`, with `?mount=&from=` when `mountFrom` is given: 201 when the registry
   * mounted the blob, else 202 and the upload session's Location (a registry declining the mount opens
   * a session, per the distribution spec).
   */
  private async initiateUpload(
    repository: string,
    digest: string,
    mountFrom: string | undefined,
  ): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const start = mountFrom
      ? this.repoUrl(
          repository,
          `blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}`,
        )
      : this.repoUrl(repository, 'blobs/uploads/');
    const res = await this.http.request(
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
    await expectStatus(res, `POST blob upload to ${repository}`, ...(mountFrom ? [201, 202] : [202]));
    await discard(res);
    return res.status === 201 ? { mounted: true } : { mounted: false, location: this.location(res, start) };
  }

  /**
   * A blob above `monolithicLimit` goes in PATCH chunks of `chunkSize`, each answered 202 with the
   * session's next Location; a smaller one is sent whole by `commitBlob` (one request). Returns the
   * Location to commit at.
   */
  private async streamBlob(repository: string, blob: BlobSource, location: string): Promise<string> {
    if (blob.size <= this.monolithicLimit) return location;
    for (let offset = 0; offset < blob.size;) {
      const from = offset;
      const end = Math.min(blob.size, from + this.chunkSize);
      const patch = await this.http.request(
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
      await expectStatus(patch, `PATCH blob chunk to ${repository}`, 202);
      await discard(patch);
      location = this.location(patch, location);
      this.stats.bytesUploaded += end - from;
      offset = end;
    }
    return location;
  }

  /** `PUT <location>?digest=`: the whole blob when it was not streamed in chunks, else no body; 201. */
  private async commitBlob(repository: string, blob: BlobSource, location: string): Promise<void> {
    const put = new URL(location);
    put.searchParams.set('digest', blob.digest);
    const monolithic = blob.size <= this.monolithicLimit;
    const done = await this.http.request(
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
    await expectStatus(done, `PUT blob ${blob.digest} to ${repository}`, 201);
    await discard(done);
    if (monolithic) this.stats.bytesUploaded += blob.size;
  }

  /** The upload session's next URL (relative to the request's), checked like any registry URL. */
  private location(res: Response, from: string): string {
    const loc = res.headers.get('location');
    if (!loc) throw new Error(`${this.registry} sent no upload Location`);
    return checkHttpUrl(loc, from, 'upload Location', this.insecure).href;
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
    const res = await this.http.request({
      method: 'PUT',
      url: this.repoUrl(repository, `manifests/${reference}`),
      repository,
      access: 'push',
      headers: { 'content-type': mediaType },
      body: () => ({ body: new Uint8Array(bytes), length: bytes.length }),
    });
    await expectStatus(res, `PUT manifest ${repository}:${reference}`, 201);
    await discard(res);
    this.stats.bytesUploaded += bytes.length;
    onHeaders?.(res.headers);
    return res.headers.get('docker-content-digest') ?? sha256(bytes);
  }
}
