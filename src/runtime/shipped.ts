/**
 * The runtime layers' expected diff_ids, shipped with the action in `server-template/runtime-layers.json`.
 *
 * The runtime layer of a platform (`/app/server`: the server bundle + onnxruntime-node with that
 * platform's binaries + onnxruntime-common, see stage.ts and image/layer.ts) is deterministic for an
 * action version. `npm run bundle` stages it for every platform from the repository's node_modules
 * (integrity-checked by npm ci) and records the sha256 of its uncompressed tar (the diff_id) and the
 * tar's size; `scripts/check-dist.sh` fails in CI when the file does not match a fresh computation.
 *
 * With it, a run can take the runtime layer from a registry blob (verified while it streams to
 * decompress to exactly that diff_id, see provide.ts) without first staging the runtime from npm to
 * learn what the diff_id should be. The file is used only when it was made from the server bundle
 * present (its digest is recorded) and for the onnxruntime-node version pinned; else it is ignored with
 * a warning and the runtime is staged as before.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { SERVER_PATH } from '../image/assemble.js';
import { entriesFromDir, layerTarDigest } from '../image/layer.js';
import type { Logger } from '../util/log.js';
import { RUNTIME_PLATFORMS, pinnedOrtVersion, serverBundleDigest, stageRuntime } from './stage.js';

export const RUNTIME_LAYERS_FILE = 'runtime-layers.json';
/** The runtime layer's root inside the image, as tar paths (`app/server`). */
export const RUNTIME_LAYER_ROOT = SERVER_PATH.replace(/^\//, '');

export interface ShippedLayer {
  /** sha256 of the uncompressed layer tar. */
  diffId: string;
  /** Bytes of the uncompressed layer tar. */
  size: number;
}

export interface RuntimeLayersFile {
  version: 1;
  /** serverBundleDigest of the server bundle the layers hold. */
  server: string;
  /** onnxruntime-node's version. */
  onnxruntime: string;
  /** By platform (`linux/amd64`); for layers with mtime 0 (no SOURCE_DATE_EPOCH). */
  layers: Record<string, ShippedLayer>;
}

/** `server-template/runtime-layers.json`, next to the server bundle's directory. */
export function runtimeLayersPath(serverDir: string): string {
  return join(dirname(serverDir), RUNTIME_LAYERS_FILE);
}

/** Stages every platform's runtime from node_modules and computes its layer's diff_id and size. */
export async function computeRuntimeLayers(serverDir: string, logger: Logger): Promise<RuntimeLayersFile> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'runtime-layers-'));
  try {
    const layers: Record<string, ShippedLayer> = {};
    for (const platform of RUNTIME_PLATFORMS) {
      const staged = await stageRuntime(platform, { logger, serverDir, cacheDir });
      if (staged.source !== 'node_modules') throw new Error('onnxruntime-node must be in node_modules');
      layers[platform] = await layerTarDigest(await entriesFromDir(staged.dir, RUNTIME_LAYER_ROOT));
    }
    return {
      version: 1,
      server: await serverBundleDigest(serverDir),
      onnxruntime: await pinnedOrtVersion(serverDir),
      layers,
    };
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}

export function formatRuntimeLayers(f: RuntimeLayersFile): string {
  return `${JSON.stringify(f, null, 2)}\n`;
}

/**
 * The shipped diff_ids by platform when the file matches the server bundle present and the pinned
 * onnxruntime-node; undefined (warned about when it exists but is stale or unreadable) otherwise.
 */
export async function loadShippedRuntimeLayers(
  serverDir: string,
  logger: Logger,
): Promise<Record<string, ShippedLayer> | undefined> {
  const path = runtimeLayersPath(serverDir);
  let f: RuntimeLayersFile;
  try {
    f = JSON.parse(await readFile(path, 'utf8')) as RuntimeLayersFile;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
      logger.warning(`${path} is unreadable (${e instanceof Error ? e.message : String(e)}); it is ignored.`);
    return undefined;
  }
  const valid = (l: ShippedLayer | undefined): boolean =>
    typeof l?.diffId === 'string' && /^sha256:[a-f0-9]{64}$/.test(l.diffId) && Number.isSafeInteger(l.size);
  const stale =
    f.version !== 1 || typeof f.layers !== 'object' || !Object.values(f.layers).every(valid)
      ? 'has an unknown format'
      : f.server !== (await serverBundleDigest(serverDir))
        ? 'was made from another server bundle'
        : f.onnxruntime !== (await pinnedOrtVersion(serverDir))
          ? `was made for onnxruntime-node ${f.onnxruntime}`
          : undefined;
  if (stale) {
    logger.warning(
      `The shipped runtime layer digests (${path}) ${stale}: they are ignored and the runtime is staged. Fix: Run \`npm run bundle\` and commit ${RUNTIME_LAYERS_FILE} with the bundles.`,
    );
    return undefined;
  }
  return f.layers;
}
