/**
 * Layer reuse from earlier images: reads the manifests and configs of references that may already hold
 * our layers (normally the target repository's tags) and maps each layer's diff_id (sha256 of its
 * uncompressed tar) to the compressed blob the registry has. A layer we are about to build whose diff_id
 * is in the map may be referenced instead of compressed again, but only once `verifyReusable` has
 * fetched the blob and checked that it decompresses to exactly that diff_id: the registry's word (a
 * config anyone with push access can rewrite) is never enough to put bytes into a new image.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../util/log.js';
import type { RegistryCredentials } from './auth.js';
import { BlobStore, DigestMismatchError, HashingStream, INFLATE_CHUNK } from './blobs.js';
import { parseManifest, type Manifest } from './oci.js';
import { formatReference, parseImageReference } from './reference.js';
import { RegistryClient, RegistryHttpError } from './registry.js';

export interface ReusableLayer {
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
  client: RegistryClient;
  repository: string;
}

export interface ReuseOptions {
  logger: Logger;
  /**
   * Only layers of these media types are offered (a manifest never mixes OCI and Docker types: a
   * caller that does not know the base yet takes both gzip types and checks the type when it builds).
   */
  layerMediaType: string | string[];
  pushRegistry?: string;
  registryAuth?: RegistryCredentials;
  insecureRegistries?: string[];
  fetch?: typeof fetch;
  /** Clients already made (per registry host), to share connections and tokens. */
  clients?: Map<string, RegistryClient>;
}

export async function reusableLayers(
  refs: string[],
  opts: ReuseOptions,
): Promise<Map<string, ReusableLayer>> {
  const out = new Map<string, ReusableLayer>();
  const types = new Set([opts.layerMediaType].flat());
  const clients = opts.clients ?? new Map<string, RegistryClient>();
  for (const text of refs) {
    try {
      const ref = parseImageReference(text);
      let client = clients.get(ref.registry);
      if (!client) {
        const creds = opts.pushRegistry?.toLowerCase() === ref.registry ? opts.registryAuth : undefined;
        client = new RegistryClient({
          registry: ref.registry,
          ...(creds && { credentials: creds }),
          ...(opts.insecureRegistries && { insecureRegistries: opts.insecureRegistries }),
          ...(opts.fetch && { fetch: opts.fetch }),
          logger: opts.logger,
          retry: { attempts: 2 },
        });
        clients.set(ref.registry, client);
      }
      const c = client;
      const top = await c.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
      const parsed = parseManifest(top.bytes, top.mediaType, formatReference(ref));
      const manifests: Manifest[] = [];
      if (parsed.kind === 'manifest') manifests.push(parsed.manifest);
      else {
        for (const d of parsed.index.manifests) {
          const m = parseManifest(
            (await c.getManifest(ref.repository, d.digest)).bytes,
            d.mediaType,
            d.digest,
          );
          if (m.kind === 'manifest') manifests.push(m.manifest);
        }
      }
      for (const m of manifests) {
        const config = JSON.parse((await c.readBlob(ref.repository, m.config.digest)).toString('utf8')) as {
          rootfs?: { diff_ids?: string[] };
        };
        const diffIds = config.rootfs?.diff_ids ?? [];
        m.layers.forEach((l, i) => {
          const diffId = diffIds[i];
          if (diffId && types.has(l.mediaType) && !out.has(diffId)) {
            out.set(diffId, {
              digest: l.digest,
              size: l.size,
              mediaType: l.mediaType,
              diffId,
              client: c,
              repository: ref.repository,
            });
          }
        });
      }
      opts.logger.debug(`Layer reuse: ${text} offers ${out.size} layers`);
    } catch (e) {
      opts.logger.debug(`Layer reuse: ${text} not usable (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return out;
}

/** sha256 of a gzip blob's uncompressed bytes (its diff_id), streamed. */
export async function uncompressedDigest(path: string): Promise<string> {
  const h = new HashingStream();
  await pipeline(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    createGunzip({ chunkSize: INFLATE_CHUNK }),
    h,
    async (src) => {
      for await (const _ of src as AsyncIterable<Buffer>) void _;
    },
  );
  return h.digest();
}

/** What `verifyReusable` may do with the layer's tar while it verifies (`unpackTree`, see unpack.ts). */
export interface VerifyOptions {
  /** Reads the uncompressed tar; its result is used only if the layer verifies. */
  consume?: (tar: Readable) => Promise<void>;
  /** Uncompressed bytes beyond which the layer cannot be the one expected (stops a gzip bomb early). */
  maxUncompressed?: number;
}

/** Passes bytes through while copying them to `file` (backpressure from both sides). */
class CopyTo extends Transform {
  constructor(private readonly file: WriteStream) {
    super();
    file.on('error', (e) => this.destroy(e));
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    if (this.file.write(chunk)) cb(null, chunk);
    else this.file.once('drain', () => cb(null, chunk));
  }
  override _flush(cb: (e?: Error | null) => void): void {
    this.file.end(() => cb());
  }
}

/** Fails once more than `max` bytes passed. */
class AtMost extends Transform {
  private seen = 0;
  constructor(
    private readonly max: number,
    private readonly what: string,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void): void {
    this.seen += chunk.length;
    if (this.seen > this.max) cb(new Error(`${this.what} decompresses to more than ${this.max} bytes`));
    else cb(null, chunk);
  }
}

/**
 * Fetches a reusable layer's blob into `store` and, in the same pass, checks its digest and that it
 * decompresses to `diffId` (the digest this run computed from its own files, or the one the action
 * ships for its runtime layers); `opts.consume` may read the tar meanwhile (e.g. unpack it). Returns the
 * verified blob's size and how many bytes were read from the registry, or undefined when it cannot be
 * reused: gone (garbage-collected), unreadable, or holding other content than the image claims (a
 * tampered or corrupt repository: warned about, nothing kept, and the layer is built instead).
 */
export async function verifyReusable(
  layer: ReusableLayer,
  diffId: string,
  store: BlobStore,
  logger: Logger,
  opts: VerifyOptions = {},
): Promise<{ size: number; fetched: number } | undefined> {
  const where = `${layer.client.registry}/${layer.repository}@${layer.digest}`;
  const had = await store.has(layer.digest);
  const tmp = had ? undefined : await store.newTempPath();
  const gz = new HashingStream();
  const diff = new HashingStream();
  try {
    const source = had
      ? createReadStream(store.path(layer.digest), { highWaterMark: 1 << 20 })
      : await layer.client.openBlob(layer.repository, layer.digest);
    const stages: NodeJS.ReadWriteStream[] = [gz];
    if (tmp) stages.push(new CopyTo(createWriteStream(tmp)));
    stages.push(createGunzip({ chunkSize: INFLATE_CHUNK }), diff);
    if (opts.maxUncompressed !== undefined) stages.push(new AtMost(opts.maxUncompressed, where));
    const drain = async (src: AsyncIterable<Buffer>): Promise<void> => {
      for await (const _ of src) void _;
    };
    await pipeline(source, ...(stages as [Transform]), async (src: AsyncIterable<Buffer>) =>
      opts.consume ? opts.consume(Readable.from(src, { objectMode: false })) : drain(src),
    );
  } catch (e) {
    if (tmp) await rm(tmp, { force: true });
    const msg = e instanceof Error ? e.message : String(e);
    if (gz.bytes > 0 && !(e instanceof RegistryHttpError))
      logger.warning(`Layer reuse: ${where} is not a valid layer (${msg}); building the layer instead.`);
    else logger.debug(`Layer reuse: ${where} not readable (${msg}); building the layer instead`);
    return undefined;
  }
  const digest = gz.digest();
  const actual = diff.digest();
  if (digest !== layer.digest || actual !== diffId) {
    if (tmp) await rm(tmp, { force: true });
    logger.warning(
      digest !== layer.digest
        ? `Layer reuse: ${where} is not what it claims (${new DigestMismatchError('blob', layer.digest, digest).message}); building the layer instead.`
        : `Layer reuse: ${where} does not decompress to the content its image claims (diff_id ${diffId}, got ${actual}); the repository was altered or is corrupt. Building the layer instead.`,
    );
    return undefined;
  }
  if (tmp) await store.commit(tmp, digest);
  return { size: gz.bytes, fetched: had ? 0 : gz.bytes };
}
