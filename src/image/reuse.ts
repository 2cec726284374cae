/**
 * Layer reuse from earlier images: reads the manifests and configs of references that may already hold
 * our layers (normally the target repository's tags) and maps each layer's diff_id (sha256 of its
 * uncompressed tar) to the compressed blob the registry has. A layer we are about to build whose diff_id
 * is in the map may be referenced instead of compressed again, but only once `verifyReusable` has
 * fetched the blob and checked that it decompresses to exactly that diff_id: the registry's word (a
 * config anyone with push access can rewrite) is never enough to put bytes into a new image.
 */
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Logger } from '../util/log.js';
import type { RegistryCredentials } from './auth.js';
import { BlobStore, DigestMismatchError, HashingStream } from './blobs.js';
import { parseManifest, type Manifest } from './oci.js';
import { formatReference, parseImageReference } from './reference.js';
import { RegistryClient } from './registry.js';

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
  /** Only layers of this media type are reused (a manifest never mixes OCI and Docker types). */
  layerMediaType: string;
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
          if (diffId && l.mediaType === opts.layerMediaType && !out.has(diffId)) {
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
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), createGunzip(), h, async (src) => {
    for await (const _ of src as AsyncIterable<Buffer>) void _;
  });
  return h.digest();
}

/**
 * Fetches a reusable layer's blob into `store` (its digest verified while it streams) and checks that it
 * decompresses to `diffId`, the digest this run computed from its own files. Returns the verified blob's
 * size and whether it was fetched (bytes read from the registry), or undefined when it cannot be reused:
 * gone (garbage-collected), unreadable, or holding other content than the image claims (a tampered or
 * corrupt repository: warned about, removed from the store, and the layer is built instead).
 */
export async function verifyReusable(
  layer: ReusableLayer,
  diffId: string,
  store: BlobStore,
  logger: Logger,
): Promise<{ size: number; fetched: number } | undefined> {
  const where = `${layer.client.registry}/${layer.repository}@${layer.digest}`;
  const had = await store.has(layer.digest);
  try {
    await layer.client.fetchBlob(layer.repository, layer.digest, store);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (e instanceof DigestMismatchError)
      logger.warning(`Layer reuse: ${where} is not what it claims (${msg}); building the layer instead.`);
    else logger.debug(`Layer reuse: ${where} not readable (${msg}); building the layer instead`);
    return undefined;
  }
  const path = store.path(layer.digest);
  const size = (await stat(path)).size;
  const actual = await uncompressedDigest(path).catch(
    (e: unknown) => `unreadable gzip (${e instanceof Error ? e.message : String(e)})`,
  );
  if (actual !== diffId) {
    if (!had) await rm(path, { force: true });
    logger.warning(
      `Layer reuse: ${where} does not decompress to the content its image claims (diff_id ${diffId}, got ${actual}); the repository was altered or is corrupt. Building the layer instead.`,
    );
    return undefined;
  }
  return { size, fetched: had ? 0 : size };
}
