/**
 * Reads the facts a BOM states from what the build used: the model's graph (an onnxruntime-node
 * session of the host's staged runtime: the same library the server loads) and config.json, the
 * server bundle and the package list the bundler wrote next to it, and the onnxruntime-node native
 * files of every platform, each hashed (as the runtime's layer was verified, or from its directory).
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { fileDigest } from '../image/blobs.js';
import type { TreeFiles } from '../image/unpack.js';
import { ORT, ORT_COMMON, lockIntegrity, stagedFiles } from '../runtime/stage.js';
import type { FileFact, ModelFacts, NpmPackageFact, RuntimeFacts, ServerFacts, TensorFact } from './facts.js';

/** Written by scripts/bundle.mjs next to the server bundle: the npm packages compiled into it. */
export const BUNDLED_PACKAGES_FILE = 'bundled-packages.json';

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** sha256 and size of `files` (relative, '/'-separated) under `root`. */
export async function hashFiles(root: string, files: string[]): Promise<FileFact[]> {
  const out: FileFact[] = [];
  for (const path of files) {
    const { digest, size } = await fileDigest(join(root, ...path.split('/')));
    out.push({ path, size, sha256: digest.slice('sha256:'.length) });
  }
  return out;
}

function packageFact(pkg: Record<string, unknown>, integrity: string | undefined): NpmPackageFact {
  const license = str(pkg['license']);
  return {
    name: String(pkg['name']),
    version: String(pkg['version']),
    ...(license && { license }),
    ...(integrity && { integrity }),
  };
}

/** The server bundle (`server-template/dist`): its package.json identity, files and bundled packages. */
export async function serverFacts(serverDir: string): Promise<ServerFacts> {
  const templateDir = dirname(serverDir);
  const pkg = await readJson(join(templateDir, 'package.json'));
  let packages: NpmPackageFact[];
  try {
    packages = (await readJson(join(serverDir, BUNDLED_PACKAGES_FILE))) as unknown as NpmPackageFact[];
    if (!Array.isArray(packages)) throw new Error('not a list');
  } catch (e) {
    throw new UserError(
      `The server bundle ${serverDir} has no readable ${BUNDLED_PACKAGES_FILE} (${(e as Error).message}), so the SBOM cannot list its npm packages.`,
      'Rebuild the bundles with `npm run bundle`, or set sbom: false.',
    );
  }
  const files = await hashFiles(serverDir, await stagedFiles(serverDir));
  return { ...packageFact(pkg, undefined), files, packages };
}

/** A platform's runtime as the SBOM reads it: its files' digests when known, else its directory. */
export type RuntimeTree = { files: TreeFiles } | { dir: string };

/**
 * onnxruntime-node and -common (their package.json from `packagesDir`, a runtime of the same pinned
 * versions) and each platform's native files, hashed.
 */
export async function runtimeFacts(
  runtimes: Record<string, RuntimeTree>,
  packagesDir: string,
  repoRoot: string,
): Promise<RuntimeFacts> {
  const ortPkg = await readJson(join(packagesDir, 'node_modules', ORT, 'package.json'));
  const commonPkg = await readJson(join(packagesDir, 'node_modules', ORT_COMMON, 'package.json'));
  const ort = packageFact(ortPkg, await lockIntegrity(repoRoot, ORT, String(ortPkg['version'])));
  const common = packageFact(
    commonPkg,
    await lockIntegrity(repoRoot, ORT_COMMON, String(commonPkg['version'])),
  );
  const platforms: RuntimeFacts['platforms'] = [];
  for (const [platform, tree] of Object.entries(runtimes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    platforms.push({ platform, files: await nativeFiles(tree) });
  }
  if (platforms.length === 0) throw new Error('no staged runtime to describe');
  return { ort, common, platforms };
}

/** onnxruntime-node's `bin/` files of a runtime, sorted by path. */
async function nativeFiles(tree: RuntimeTree): Promise<FileFact[]> {
  const ortRoot = `node_modules/${ORT}/`;
  if ('files' in tree) {
    return Object.entries(tree.files)
      .filter(([path]) => path.startsWith(`${ortRoot}bin/`))
      .map(([path, f]) => ({
        path: path.slice(ortRoot.length),
        size: f.size,
        sha256: f.sha256.slice('sha256:'.length),
      }))
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  const ortDir = join(tree.dir, 'node_modules', ORT);
  return hashFiles(
    ortDir,
    (await stagedFiles(ortDir)).filter((f) => f.startsWith('bin/')),
  );
}

type Ort = typeof import('onnxruntime-node');

/** The graph's inputs and outputs from an onnxruntime session of the staged runtime in `runtimeDir`. */
export async function inspectGraph(
  runtimeDir: string,
  onnxPath: string,
): Promise<{ inputs: TensorFact[]; outputs: TensorFact[] }> {
  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  const ort = createRequire(join(runtimeDir, 'index.js'))(ORT) as Ort;
  let session: Awaited<ReturnType<Ort['InferenceSession']['create']>>;
  try {
    session = await ort.InferenceSession.create(onnxPath, { graphOptimizationLevel: 'disabled' });
  } catch (e) {
    throw new UserError(
      `onnxruntime cannot load ${onnxPath} to describe it in the SBOM: ${(e as Error).message.split('\n')[0]}`,
      'Package a valid ONNX model (the smoke test loads it the same way).',
    );
  }
  try {
    const specs = (meta: typeof session.inputMetadata): TensorFact[] =>
      meta.map((m) =>
        m.isTensor
          ? {
              name: m.name,
              type: String(m.type),
              shape: m.shape.map((d) => (typeof d === 'number' && d < 0 ? '?' : d)),
            }
          : { name: m.name, type: 'non-tensor', shape: [] },
      );
    return { inputs: specs(session.inputMetadata), outputs: specs(session.outputMetadata) };
  } finally {
    await session.release();
  }
}

/** config.json's class labels (id2label by index) and architecture, when the model folder has one. */
export async function readModelConfig(
  modelDir: string,
): Promise<Pick<ModelFacts, 'labels' | 'modelType' | 'architecture'>> {
  let config: Record<string, unknown>;
  try {
    config = await readJson(join(modelDir, 'config.json'));
  } catch {
    return { labels: [] };
  }
  const id2label = config['id2label'];
  const labels: string[] = [];
  if (id2label && typeof id2label === 'object') {
    const entries = Object.entries(id2label as Record<string, unknown>);
    for (const [k, v] of entries) if (/^\d+$/.test(k)) labels[Number(k)] = String(v);
  }
  const architectures = config['architectures'];
  const architecture = Array.isArray(architectures) ? str(architectures[0]) : undefined;
  const modelType = str(config['model_type']);
  return {
    labels: Array.from(labels, (l, i) => l ?? `LABEL_${i}`),
    ...(modelType && { modelType }),
    ...(architecture && { architecture }),
  };
}
