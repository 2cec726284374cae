/**
 * Stages the server runtime for one target platform: a directory holding the prebuilt server bundle
 * (`server-template/dist`), a `package.json` (type module) and `node_modules/onnxruntime-node` with only
 * that platform's native binaries, plus `onnxruntime-common` (its one runtime dependency: `dist/`
 * requires nothing else; the install-time deps adm-zip/global-agent are not needed at run time).
 *
 * Where the server bundle is found at run time: the action's bundle (dist/index.js) does not contain
 * server-template/, but the action's checkout does. We resolve from this module's own URL
 * (import.meta.url: dist/index.js in the action, src/runtime/stage.ts in development) upwards until a
 * directory holds `server-template/dist/index.js`. `serverDir` overrides it.
 *
 * onnxruntime-node comes from the repository's node_modules when it has the pinned version, else from
 * the npm registry (integrity from package-lock.json, else the registry metadata), cached between runs
 * under RUNNER_TOOL_CACHE or ~/.cache/package-onnx-model.
 *
 * Nothing cached is reused on trust: a staged runtime and an extracted npm package each get a manifest
 * of every file's sha256 when made, and a reuse first checks the tree against it; a changed, missing
 * or extra file means a warning and a fresh staging (or download).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { fetchPackage, isCached } from './npm.js';
import { checkTree, manifestPathFor, writeTreeManifest } from './tree-manifest.js';

export const ORT = 'onnxruntime-node';
export const ORT_COMMON = 'onnxruntime-common';

export interface StageOptions {
  logger: Logger;
  /** The prebuilt server bundle (default: found from this module's location, see above). */
  serverDir?: string;
  /** Cache root (default: $RUNNER_TOOL_CACHE/package-onnx-model or ~/.cache/package-onnx-model). */
  cacheDir?: string;
  /** Use a matching onnxruntime-node from the repository's node_modules (default true). */
  useLocalNodeModules?: boolean;
  /** npm registry for the fallback download (default: npm_config_registry, else registry.npmjs.org). */
  npmRegistry?: string;
  fetch?: typeof fetch;
}

export interface StagedRuntime {
  /** Canonical platform (`linux/amd64`). */
  platform: string;
  /** The staged directory: `node <dir>/index.js` runs the server (with MODEL_DIR set). */
  dir: string;
  ortVersion: string;
  /** Where onnxruntime-node came from. */
  source: 'node_modules' | 'npm';
  /** Content key of the staged tree (server bundle + runtime versions + platform). */
  key: string;
}

/** onnxruntime-node's directory name for each supported image platform. */
const ORT_ARCH: Record<string, string> = { 'linux/amd64': 'x64', 'linux/arm64': 'arm64' };

/** The image platforms a runtime can be staged for. */
export const RUNTIME_PLATFORMS = Object.keys(ORT_ARCH);

export function ortArch(platform: string): string {
  const arch = ORT_ARCH[platform];
  if (!arch) {
    throw new UserError(
      `Platform '${platform}' is not supported: onnxruntime-node ships Linux binaries for x64 and arm64 only.`,
      "Set platforms to 'linux/amd64', 'linux/arm64' or both.",
    );
  }
  return arch;
}

/** The host as an image platform (`linux/amd64` on x64 Linux). */
export function hostPlatform(): string {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  return `${process.platform}/${arch}`;
}

export function defaultCacheDir(): string {
  const tool = process.env['RUNNER_TOOL_CACHE'];
  if (tool) return join(tool, 'package-onnx-model');
  const xdg = process.env['XDG_CACHE_HOME'];
  return join(xdg || join(homedir(), '.cache'), 'package-onnx-model');
}

/** Finds `server-template/dist` walking up from `from` (default: this module's directory). */
export function findServerBundle(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from, i = 0; i < 6; i++) {
    const candidate = join(dir, 'server-template', 'dist');
    if (existsSync(join(candidate, 'index.js'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new UserError(
    `The prebuilt inference server (server-template/dist/index.js) was not found above ${from}.`,
    'Run the action from its repository checkout (uses: owner/package-onnx-model@ref), or run `npm run bundle -- server` in a clone.',
  );
}

async function listFiles(root: string, keep: (rel: string) => boolean = () => true): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, ent.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (ent.isDirectory()) await walk(abs);
      else if (ent.isFile() && keep(rel)) out.push(rel);
    }
  };
  await walk(root);
  return out.sort();
}

async function hashTree(root: string, files: string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${f}\0`);
    h.update(await readFile(join(root, f)));
    h.update('\0');
  }
  return h.digest('hex');
}

/** sha256 over the server bundle's files (paths and bytes): what the shipped runtime layers were made from. */
export async function serverBundleDigest(serverDir: string): Promise<string> {
  return `sha256:${await hashTree(serverDir, await listFiles(serverDir))}`;
}

/** The onnxruntime-node version server-template/package.json pins (next to the server bundle). */
export async function pinnedOrtVersion(serverDir: string): Promise<string> {
  const pkg = await readJson(join(dirname(serverDir), 'package.json'));
  return exactVersion(
    (pkg['dependencies'] as Record<string, unknown> | undefined)?.[ORT],
    `server-template/package.json's ${ORT}`,
  );
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

function exactVersion(spec: unknown, what: string): string {
  if (typeof spec !== 'string' || !/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
    throw new UserError(
      `${what} must pin an exact version, found '${String(spec)}'.`,
      `Pin it, e.g. "${ORT}": "1.30.0".`,
    );
  }
  return spec;
}

/** Files kept from onnxruntime-node: metadata, the JS in dist/ and the one platform's binaries. */
function ortFilter(archs: string[]): (rel: string) => boolean {
  return (rel) =>
    rel === 'package.json' ||
    rel === 'LICENSE' ||
    (rel.startsWith('dist/') && !rel.endsWith('.map') && !rel.endsWith('.d.ts')) ||
    archs.some((a) => rel.startsWith(`bin/napi-v6/linux/${a}/`));
}

const commonFilter = (rel: string): boolean =>
  rel === 'package.json' ||
  rel === 'LICENSE' ||
  (rel.startsWith('dist/') && !rel.endsWith('.map') && !rel.endsWith('.d.ts'));

/** A node_modules copy of `name@version`, searched upward from `from`, or undefined. */
async function findLocalPackage(
  name: string,
  version: string,
  from: string,
  mustHave?: string,
): Promise<string | undefined> {
  for (let dir = from, i = 0; i < 6; i++) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    try {
      const pkg = await readJson(join(candidate, 'package.json'));
      if (pkg['version'] === version && (!mustHave || existsSync(join(candidate, mustHave))))
        return candidate;
    } catch {
      // not here
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return undefined;
}

/** sha512 integrity of `node_modules/<name>` in the package-lock.json next to server-template/. */
export async function lockIntegrity(
  repoRoot: string,
  name: string,
  version: string,
): Promise<string | undefined> {
  try {
    const lock = (await readJson(join(repoRoot, 'package-lock.json'))) as {
      packages?: Record<string, { version?: string; integrity?: string }>;
    };
    const entry = lock.packages?.[`node_modules/${name}`];
    return entry?.version === version ? entry.integrity : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Places `files` of `src` under `dest`: hard links when both are on one filesystem (staging 70 MB of
 * onnxruntime binaries then costs nothing; nothing ever writes to staged files), else copies.
 */
async function copyTree(src: string, dest: string, files: string[]): Promise<void> {
  let canLink = true;
  for (const f of files) {
    const from = join(src, ...f.split('/'));
    const out = join(dest, ...f.split('/'));
    await mkdir(dirname(out), { recursive: true });
    if (canLink) {
      try {
        await link(from, out);
        continue;
      } catch {
        canLink = false; // EXDEV, EPERM, ...: copy from now on
      }
    }
    await copyFile(from, out);
  }
}

/** Stages (or reuses) the runtime directory for `platform`. */
export async function stageRuntime(platformInput: string, opts: StageOptions): Promise<StagedRuntime> {
  const platform = platformInput === 'linux/arm64/v8' ? 'linux/arm64' : platformInput;
  const arch = ortArch(platform);
  const serverDir = opts.serverDir ?? findServerBundle();
  if (!existsSync(join(serverDir, 'index.js'))) {
    throw new UserError(`The server bundle ${serverDir} has no index.js.`, 'Run `npm run bundle -- server`.');
  }
  const templateDir = dirname(serverDir);
  const repoRoot = dirname(templateDir);
  const templatePkg = await readJson(join(templateDir, 'package.json')).catch(() => {
    throw new UserError(
      `${join(templateDir, 'package.json')} is missing.`,
      'Run the action from its repository checkout.',
    );
  });
  const ortVersion = exactVersion(
    (templatePkg['dependencies'] as Record<string, unknown> | undefined)?.[ORT],
    `server-template/package.json's ${ORT}`,
  );
  const cacheDir = opts.cacheDir ?? defaultCacheDir();

  // onnxruntime-node: the repository's node_modules, else the npm registry (cached).
  let ortDir: string | undefined;
  let source: StagedRuntime['source'] = 'node_modules';
  if (opts.useLocalNodeModules !== false) {
    ortDir = await findLocalPackage(
      ORT,
      ortVersion,
      templateDir,
      `bin/napi-v6/linux/${arch}/onnxruntime_binding.node`,
    );
  }
  const npmOpts = {
    logger: opts.logger,
    ...(opts.fetch && { fetch: opts.fetch }),
    ...(opts.npmRegistry && { registry: opts.npmRegistry }),
  };
  if (!ortDir) {
    source = 'npm';
    ortDir = join(cacheDir, 'npm', `${ORT}@${ortVersion}`);
    const integrity = await lockIntegrity(repoRoot, ORT, ortVersion);
    if (!(await isCached(ortDir, integrity, opts.logger))) {
      await fetchPackage(ORT, ortVersion, ortDir, ortFilter(['x64', 'arm64']), {
        ...npmOpts,
        ...(integrity && { integrity }),
      });
    } else opts.logger.info(`Using cached ${ORT}@${ortVersion}`);
  }
  const ortPkg = await readJson(join(ortDir, 'package.json'));
  const commonVersion = exactVersion(
    (ortPkg['dependencies'] as Record<string, unknown> | undefined)?.[ORT_COMMON],
    `${ORT}'s ${ORT_COMMON} dependency`,
  );
  let commonDir =
    source === 'node_modules'
      ? ((await findLocalPackage(ORT_COMMON, commonVersion, ortDir)) ??
        (await findLocalPackage(ORT_COMMON, commonVersion, templateDir)))
      : undefined;
  if (!commonDir) {
    commonDir = join(cacheDir, 'npm', `${ORT_COMMON}@${commonVersion}`);
    const integrity = await lockIntegrity(repoRoot, ORT_COMMON, commonVersion);
    if (!(await isCached(commonDir, integrity, opts.logger))) {
      await fetchPackage(ORT_COMMON, commonVersion, commonDir, commonFilter, {
        ...npmOpts,
        ...(integrity && { integrity }),
      });
    }
  }

  const serverFiles = await listFiles(serverDir);
  const ortFiles = await listFiles(ortDir, ortFilter([arch]));
  const commonFiles = await listFiles(commonDir, commonFilter);
  if (!ortFiles.some((f) => f.endsWith('onnxruntime_binding.node'))) {
    throw new UserError(
      `${ORT}@${ortVersion} has no binary for linux/${arch}.`,
      'Use a platform onnxruntime-node supports (linux/amd64, linux/arm64).',
    );
  }
  const key = createHash('sha256')
    .update(
      [
        await hashTree(serverDir, serverFiles),
        ortVersion,
        commonVersion,
        platform,
        ortFiles.join(','),
        commonFiles.join(','),
      ].join('\n'),
    )
    .digest('hex')
    .slice(0, 24);
  const dir = join(cacheDir, 'runtime', key, platform.replace(/\//g, '-'));
  const manifest = manifestPathFor(dir);
  if (existsSync(dir)) {
    const problem = await checkTree(dir, manifest);
    if (!problem) {
      opts.logger.debug(`Reusing staged runtime ${dir} (every file verified)`);
      return { platform, dir, ortVersion, source, key };
    }
    opts.logger.warning(`The cached server runtime for ${platform} (${dir}) ${problem}; staging it again.`);
    await rm(dir, { recursive: true, force: true });
    await rm(manifest, { force: true });
  }
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await copyTree(serverDir, tmp, serverFiles);
    if (!serverFiles.includes('package.json')) {
      await writeFile(
        join(tmp, 'package.json'),
        `${JSON.stringify({ name: 'onnx-inference-server', private: true, type: 'module' }, null, 2)}\n`,
      );
    }
    await copyTree(ortDir, join(tmp, 'node_modules', ORT), ortFiles);
    await copyTree(commonDir, join(tmp, 'node_modules', ORT_COMMON), commonFiles);
    // The manifest first: a tree without one (a crash in between) is staged again, never trusted.
    await writeTreeManifest(tmp, manifest);
    try {
      await rename(tmp, dir);
    } catch (e) {
      // Another process staged the same key meanwhile: theirs is identical.
      if (!existsSync(dir)) throw e;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  const size = (await Promise.all(ortFiles.map((f) => stat(join(ortDir, f))))).reduce(
    (a, s) => a + s.size,
    0,
  );
  opts.logger.info(
    `Staged the server runtime for ${platform} (${ORT}@${ortVersion} from ${source}, ${(size / 1e6).toFixed(1)} MB)`,
  );
  return { platform, dir, ortVersion, source, key };
}

/** For tests and tools: the files of a staged runtime, posix-relative and sorted. */
export function stagedFiles(dir: string): Promise<string[]> {
  return listFiles(dir);
}
