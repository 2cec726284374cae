/**
 * Provides the server runtime of each platform a run needs (the image's platforms, plus the host's for
 * the process smoke test) from the fastest verified source, each platform as soon as it is ready (the
 * smoke test starts on the host's runtime while the others are still being verified):
 *
 *   1. the registry: when an earlier image (normally the target's own tags) has a layer whose diff_id is
 *      the one the action ships for that platform (shipped.ts), its blob is streamed once: its digest
 *      checked, its decompressed tar hashed to that diff_id and, file by file, hashed too (for the
 *      SBOM). Only the platforms in `unpack` (the host's: the one this machine runs) are also written
 *      out, into a temporary directory that becomes the staged runtime only once both checked; the
 *      others exist only as the registry's blob, which the image references as it is. Nothing is
 *      compressed, nothing uploaded and nothing read from npm: a fresh runner never downloads
 *      onnxruntime-node's 113 MB tarball of every platform's binaries;
 *   2. else `stage` (stage.ts: the repository's node_modules, the tool cache, or the npm registry).
 *
 * A blob that does not verify is never referenced and nothing unpacked or hashed from it is kept
 * (warned about); that platform is staged instead. An unpacked runtime is kept in the cache directory
 * (the runner's tool cache when there is one) under its diff_id, with a manifest of every file's
 * sha256, so a later run on the same runner checks it and skips the unpacking.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RuntimeLayer } from '../image/assemble.js';
import { digestHex, type BlobStore } from '../image/blobs.js';
import { verifyReusable, type ReusableLayer } from '../image/reuse.js';
import { unpackTree, type TreeFiles } from '../image/unpack.js';
import type { Logger } from '../util/log.js';
import { RUNTIME_LAYER_ROOT, type ShippedLayer } from './shipped.js';
import { checkTree, manifestPathFor, readTreeManifest, writeTreeManifest } from './tree-manifest.js';

export interface ProvideOptions {
  /** Every platform whose runtime is needed (canonical keys, `linux/amd64`). */
  platforms: string[];
  /**
   * The platforms whose runtime must be a directory (the host's: the smoke test, the model layout and
   * the SBOM's graph run it); the others, when their layer is verified in the registry, get none.
   */
  unpack: string[];
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

/** One platform's server runtime. */
export interface ProvidedRuntime {
  /** Its directory: always for a staged one and the `unpack` platforms; else none (only referenced). */
  dir?: string;
  /** The verified registry layer that holds it (when it came from the registry). */
  layer?: RuntimeLayer;
  /** Its files, hashed as they were verified (when it came from the registry). */
  files?: TreeFiles;
}

/** Each platform's runtime, by platform; each settles on its own (the host's first, when it can). */
export function provideRuntimes(o: ProvideOptions): Record<string, Promise<ProvidedRuntime>> {
  // Stagings run one after another: the platforms share one npm download (and its cache directory).
  let staging: Promise<unknown> = Promise.resolve();
  const stage = (platform: string): Promise<string> => {
    const next = staging.then(() => o.stage(platform));
    staging = next.catch(() => undefined);
    return next;
  };
  const provide = async (platform: string): Promise<ProvidedRuntime> =>
    (await runtimeFromRegistry(platform, o)) ?? { dir: await stage(platform) };
  // The `unpack` platforms (the host's) first, with the whole machine: the smoke test waits for them;
  // the others are verified after, beside the smoke test, and only the build waits for them.
  const first = o.platforms.filter((p) => o.unpack.includes(p));
  const out = Object.fromEntries(first.map((p) => [p, provide(p)]));
  const firstDone = Promise.allSettled(Object.values(out));
  for (const p of o.platforms.filter((q) => !o.unpack.includes(q))) out[p] = firstDone.then(() => provide(p));
  return out;
}

/** The platform's runtime from a verified registry layer, or undefined (none offered, or unverified). */
async function runtimeFromRegistry(
  platform: string,
  o: ProvideOptions,
): Promise<ProvidedRuntime | undefined> {
  const expected = o.shipped?.[platform];
  const hit = expected && o.reusable.get(expected.diffId);
  if (!expected || !hit) return undefined;
  const dir = o.unpack.includes(platform)
    ? join(o.cacheDir, 'runtime-layer', digestHex(expected.diffId))
    : undefined;
  const manifest = dir && manifestPathFor(dir);
  let files = dir && existsSync(dir) ? await cachedFiles(dir, o.logger) : undefined;
  const tmp = dir && !files ? `${dir}.tmp-${process.pid}-${Date.now()}` : undefined;
  const t0 = Date.now();
  try {
    let streamed: TreeFiles | undefined;
    const ok = await verifyReusable(hit, expected.diffId, o.store, o.logger, {
      maxUncompressed: expected.size,
      // Unpacked when this machine runs it (and the cache has no copy), else only hashed.
      ...(!files && {
        consume: async (tar) => void (streamed = await unpackTree(tar, `${RUNTIME_LAYER_ROOT}/`, tmp)),
      }),
    });
    if (!ok) return undefined;
    files ??= streamed;
    if (tmp && dir && manifest) {
      await writeTreeManifest(tmp, manifest, files);
      await rename(tmp, dir).catch(async (e: unknown) => {
        if (!existsSync(dir)) throw e; // another run unpacked the same layer meanwhile: the same files
      });
    }
    o.logger.info(
      `Server runtime for ${platform}: layer ${hit.digest.slice(7, 19)} of ${hit.client.registry}/${hit.repository}, verified (${(ok.fetched / 1e6).toFixed(1)} MB read in ${((Date.now() - t0) / 1000).toFixed(1)} s${dir ? '' : '; referenced, not unpacked'}); not staged from npm`,
    );
    const location = { kind: 'registry' as const, client: hit.client, repository: hit.repository };
    return {
      ...(dir && { dir }),
      files,
      layer: {
        digest: hit.digest,
        diffId: expected.diffId,
        size: ok.size,
        mediaType: hit.mediaType,
        location,
      },
    };
  } finally {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

/** The files of a runtime unpacked by an earlier run, when it still matches its manifest; else removed. */
async function cachedFiles(dir: string, logger: Logger): Promise<TreeFiles | undefined> {
  const problem = await checkTree(dir);
  if (!problem) return readTreeManifest(dir);
  logger.warning(`The cached server runtime ${dir} ${problem}; unpacking it again.`);
  await rm(dir, { recursive: true, force: true });
  return undefined;
}
