/**
 * The build's software and model bill of materials: gathers the facts (src/sbom/gather.ts), writes
 * the CycloneDX 1.6 JSON (src/sbom/bom.ts) and prepares the OCI artifact that attaches it to the
 * image as a referrer (src/image/referrers.ts), so the same bytes go to the file, the archive and
 * the registry.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { referrerArtifact, type ReferrerArtifact } from '../image/referrers.js';
import { BOM_MEDIA_TYPE, buildBom } from './bom.js';
import type { ImageFacts, ModelFacts } from './facts.js';
import { inspectGraph, readModelConfig, runtimeFacts, serverFacts, type RuntimeTree } from './gather.js';

export { BOM_MEDIA_TYPE } from './bom.js';

export interface SbomRequest {
  tool: { name: string; version: string };
  image: ImageFacts & { size: number };
  /** The model as fetched; its graph and config.json are read from `dir`. */
  model: Omit<ModelFacts, 'inputs' | 'outputs' | 'labels' | 'modelType' | 'architecture'> & { dir: string };
  /** The runtime of each platform in the image: its files' digests, else its directory. */
  runtimes: Record<string, RuntimeTree>;
  /** A staged runtime this machine can load (reads the model's graph and the runtime's package.json). */
  hostRuntimeDir: string;
  /** The server bundle (server-template/dist) and the repository root holding package-lock.json. */
  serverDir: string;
  repoRoot: string;
  /** Where to write the JSON. */
  path: string;
}

export interface Sbom {
  path: string;
  bytes: Buffer;
  /** The referrer artifact (its `digest` is the `sbom-digest` output). */
  artifact: ReferrerArtifact;
}

/** Where the BOM file goes: RUNNER_TEMP (kept for later steps of the job, e.g. attest-sbom), else tmp. */
export function sbomPath(env: NodeJS.ProcessEnv, imageName: string, digest: string): string {
  const name = imageName.split('/').pop() ?? 'image';
  return join(
    env.RUNNER_TEMP || tmpdir(),
    'package-onnx-model-sbom',
    `${name}-${digest.slice(7, 19)}.cdx.json`,
  );
}

export async function createSbom(req: SbomRequest): Promise<Sbom> {
  const { dir, ...model } = req.model;
  const graph = await inspectGraph(req.hostRuntimeDir, join(dir, model.modelFile));
  const json = buildBom({
    tool: req.tool,
    image: req.image,
    model: { ...model, ...graph, ...(await readModelConfig(dir)) },
    server: await serverFacts(req.serverDir),
    runtime: await runtimeFacts(req.runtimes, req.hostRuntimeDir, req.repoRoot),
  });
  const bytes = Buffer.from(json);
  await mkdir(dirname(req.path), { recursive: true });
  await writeFile(req.path, bytes);
  const artifact = referrerArtifact({
    subject: { mediaType: req.image.mediaType, digest: req.image.digest, size: req.image.size },
    artifactType: BOM_MEDIA_TYPE,
    content: bytes,
    title: 'sbom.cdx.json',
    created: req.image.created,
  });
  return { path: req.path, bytes, artifact };
}
