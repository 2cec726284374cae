/**
 * Provides the server runtime of each platform a run needs (the image's platforms, plus the host's for
 * the process smoke test) from the fastest verified source:
 *
 *   1. the registry: when an earlier image (normally the target's own tags) has a layer whose diff_id is
 *      the one the action ships for that platform (shipped.ts), its blob is streamed once: its digest
 *      checked, its decompressed tar hashed to that diff_id and unpacked meanwhile into a temporary
 *      directory that becomes the staged runtime only once both checked. The image then references
 *      the blob as it is (nothing compressed, nothing uploaded) and nothing is read from npm: a fresh
 *      runner never downloads onnxruntime-node's 113 MB tarball of every platform's binaries;
 *   2. else `stage` (stage.ts: the repository's node_modules, the tool cache, or the npm registry).
 *
 * A blob that does not verify is never referenced and nothing unpacked from it is kept (warned about);
 * that platform is staged instead. The unpacked runtime is kept in the cache directory (the runner's
 * tool cache when there is one) under its diff_id, with a manifest of every file's sha256, so a later
 * run on the same runner checks it and skips the unpacking.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeLayer } from '../image/assemble.js';
import { digestHex, type BlobStore } from '../image/blobs.js';
import { verifyReusable, type ReusableLayer } from '../image/reuse.js';
import { unpackTree } from '../image/unpack.js';
import type { Logger } from '../util/log.js';
import { RUNTIME_LAYER_ROOT, type ShippedLayer } from './shipped.js';
import { checkTree, manifestPathFor, writeTreeManifest } from './tree-manifest.js';

export interface ProvideOptions {
  /** Every platform whose runtime directory is needed (canonical keys, `linux/amd64`). */
  platforms: string[];
  /** The shipped diff_ids (undefined: none usable, every platform is staged). */
  shipped: Record<string, ShippedLayer> | undefined;
  /** Layers earlier images offer, by diff_id (`reusableLayers`). */
  reusable: Map<string, ReusableLayer>;
  /** The build's blob store: verified blobs land there for the outputs. */
  store: BlobStore;
  cacheDir: string;
  /** Stages a platform's runtime the usual way; returns its directory. */
  stage: (platform: string) => Promise<string>;
  logger: Logger;
}

export interface ProvidedRuntimes {
  /** Runtime directory by platform (every platform asked for). */
  dirs: Record<string, string>;
  /** Verified registry layers by platform (those that came from the registry). */
  layers: Record<string, RuntimeLayer>;
}

export async function provideRuntimes(o: ProvideOptions): Promise<ProvidedRuntimes> {
  const out: ProvidedRuntimes = { dirs: {}, layers: {} };
  // Stagings run one after another: the platforms share one npm download (and its cache directory).
  let staging: Promise<unknown> = Promise.resolve();
  const stage = (platform: string): Promise<string> => {
    const next = staging.then(() => o.stage(platform));
    staging = next.catch(() => undefined);
    return next;
  };
  await Promise.all(
    o.platforms.map(async (platform) => {
      const fromRegistry = await runtimeFromRegistry(platform, o);
      if (fromRegistry) {
        out.dirs[platform] = fromRegistry.dir;
        out.layers[platform] = fromRegistry.layer;
      } else {
        out.dirs[platform] = await stage(platform);
      }
    }),
  );
  return out;
}

/** The platform's runtime from a verified registry layer, or undefined (none offered, or unverified). */
async function runtimeFromRegistry(
  platform: string,
  o: ProvideOptions,
): Promise<{ dir: string; layer: RuntimeLayer } | undefined> {
  const expected = o.shipped?.[platform];
  const hit = expected && o.reusable.get(expected.diffId);
  if (!expected || !hit) return undefined;
  const dir = join(o.cacheDir, 'runtime-layer', digestHex(expected.diffId));
  const manifest = manifestPathFor(dir);
  let unpacked = existsSync(dir);
  if (unpacked) {
    const problem = await checkTree(dir, manifest);
    if (problem) {
      o.logger.warning(`The cached server runtime ${dir} ${problem}; unpacking it again.`);
      await rm(dir, { recursive: true, force: true });
      unpacked = false;
    }
  }
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  const t0 = Date.now();
  try {
    let files: Awaited<ReturnType<typeof unpackTree>> | undefined;
    const ok = await verifyReusable(hit, expected.diffId, o.store, o.logger, {
      maxUncompressed: expected.size,
      ...(!unpacked && {
        consume: async (tar) => void (files = await unpackTree(tar, `${RUNTIME_LAYER_ROOT}/`, tmp)),
      }),
    });
    if (!ok) return undefined;
    if (!unpacked) {
      await writeTreeManifest(tmp, manifest, files);
      await rename(tmp, dir).catch(async (e: unknown) => {
        if (!existsSync(dir)) throw e; // another run unpacked the same layer meanwhile: the same files
      });
    }
    o.logger.info(
      `Server runtime for ${platform}: layer ${hit.digest.slice(7, 19)} of ${hit.client.registry}/${hit.repository}, verified (${(ok.fetched / 1e6).toFixed(1)} MB read in ${((Date.now() - t0) / 1000).toFixed(1)} s); not staged from npm`,
    );
    const location = { kind: 'registry' as const, client: hit.client, repository: hit.repository };
    return {
      dir,
      layer: {
        digest: hit.digest,
        diffId: expected.diffId,
        size: ok.size,
        mediaType: hit.mediaType,
        location,
      },
    };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
