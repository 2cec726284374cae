/**
 * The mission, stage by stage: resolve the model, download and verify it, stage the server runtime,
 * lay the model out for a fast start (its weights in an external data file, `external-weights`),
 * smoke-test it in a process, build the image and write its bill of materials, smoke-test the container,
 * and only then push (the BOM last, attached to the pushed image).
 * Every stage's I/O comes in through `PipelineDeps`, so the same pipeline serves the action, the CLI
 * and the tests; a failure anywhere throws before the push, so nothing is half-pushed.
 */
import { join } from 'node:path';
import { UserError, isUserError } from './errors.js';
import type { RuntimeLayer } from './image/assemble.js';
import type { TreeFiles } from './image/unpack.js';
import type { ReferrerArtifact } from './image/referrers.js';
import { defaultImageName, expandTags, type PackageOptions, type RunContext } from './inputs.js';
import type { PackageResult } from './report.js';
import type { RunningServer } from './server-process.js';
import { planSmokeRequest, runSmokeTest, type SmokeResult, type TensorSpec } from './smoke-test.js';
import { type Logger, stage } from './util/log.js';
import { displayReference } from './util/url.js';
import type { Model } from './model-source/index.js';
import { tokenizerLabels } from './model-source/tokenizer.js';
import type { ManifestOptions } from './manifests.js';

/** The label that holds the digest of the shipped model files when they differ from the original's. */
export const SHIPPED_SHA256_LABEL = 'io.github.package-onnx-model.model.shipped-sha256';

export interface BuiltImageInfo {
  digest: string;
  platformDigests: Record<string, string>;
  platformSizes: Record<string, number>;
  labels: Record<string, string>;
  base: { name: string; digest: string };
}

export interface PushInfo {
  digest: string;
  tags: string[];
  bytesUploaded: number;
  blobsUploaded: number;
  blobsSkipped: number;
}

/** The CycloneDX BOM of a build: the JSON file and the OCI artifact that attaches it to the image. */
export interface SbomInfo {
  path: string;
  artifact: ReferrerArtifact;
}

export interface BuildRequest {
  /** The server runtime of every platform built (and of the host when it was staged for the tests). */
  runtimes: Record<string, PreparedRuntime>;
  model: Model;
  imageName: string;
  /** The tags this run will push. */
  tags: string[];
  labels: Record<string, string>;
  /** Earlier images whose layers the build may reuse (the registry already holds them). */
  reuseLayersFrom: string[];
}

/** One platform's server runtime. */
export interface PreparedRuntime {
  /** Its directory; none when it is only referenced in the registry (a platform this machine does not run). */
  dir?: string;
  /** The verified registry layer holding it (referenced as it is). */
  layer?: RuntimeLayer;
  /** Its files, hashed as they were verified (else the SBOM hashes `dir`). */
  files?: TreeFiles;
}

/** The I/O the pipeline needs; `src/wiring.ts` provides the real implementations. */
export interface PipelineDeps<Img extends BuiltImageInfo = BuiltImageInfo> {
  logger: Logger;
  workDir: string;
  /** The platform this machine can run (linux/amd64 or linux/arm64). */
  hostPlatform: string;
  /** HTTP client for the smoke tests (the model's metadata and the prediction requests). */
  fetch: typeof fetch;
  fetchModel(opts: PackageOptions, destDir: string): Promise<Model>;
  /**
   * The server runtime of each platform in `platforms`, from verified layers of the earlier images
   * `reuseFrom` where the action knows their content, else staged; each platform's settles on its own
   * (the host's with a directory, the one the tests run).
   */
  prepareRuntimes(platforms: string[], reuseFrom: string[]): Record<string, Promise<PreparedRuntime>>;
  /**
   * Lays the model out for a fast start (src/model-layout.ts) with the host runtime `hostRuntime()`
   * gives (asked for only when the model is rewritten); returns the model as it will ship (`original` set
   * when its files changed).
   */
  prepareModel(model: Model, hostRuntime: () => Promise<string>, when: 'auto' | 'true'): Promise<Model>;
  startServer(runtimeDir: string, model: Model, env: Record<string, string>): Promise<RunningServer>;
  buildImage(req: BuildRequest): Promise<Img>;
  /** Writes the build's BOM (pushes nothing). */
  writeSbom(req: BuildRequest & { image: Img }): Promise<SbomInfo>;
  /** The OCI layout archive; `referrers` are listed in its index.json next to the image. */
  writeOciArchive(
    img: Img,
    path: string,
    imageName: string,
    tags: string[],
    dockerPlatform: string,
    referrers: ReferrerArtifact[],
  ): Promise<void>;
  writeDockerArchive(img: Img, path: string, platform: string, repoTags: string[]): Promise<void>;
  dockerEngineVersion(): Promise<string | undefined>;
  runContainer(archive: string, imageRef: string): Promise<RunningServer>;
  pushImage(img: Img, imageName: string, tags: string[]): Promise<PushInfo>;
  writeManifests(dir: string, o: ManifestOptions): Promise<string[]>;
  /** Pushes a referrer of the pushed image (referrers API, else the referrers tag). */
  attachReferrer(artifact: ReferrerArtifact, imageName: string): Promise<'referrers-api' | 'referrers-tag'>;
}

export async function packageModel<Img extends BuiltImageInfo>(
  opts: PackageOptions,
  ctx: RunContext,
  deps: PipelineDeps<Img>,
): Promise<PackageResult> {
  // A server whose smoke test is over stops in the background (the push need not wait for a process
  // or a container to exit); the run returns, or fails, only once every one has stopped.
  const stopping: Promise<void>[] = [];
  try {
    return await runPipeline(opts, ctx, deps, stopping);
  } finally {
    await Promise.all(stopping);
  }
}

async function runPipeline<Img extends BuiltImageInfo>(
  opts: PackageOptions,
  ctx: RunContext,
  deps: PipelineDeps<Img>,
  stopping: Promise<void>[],
): Promise<PackageResult> {
  const { logger } = deps;
  const times = new StageTimes();
  // A Docker engine check runs meanwhile (docker version); so does the runtime when the image name
  // is known before the model (the 'image' input set).
  const containerTest = decideContainerTest(opts, deps);
  containerTest.catch(() => undefined);
  const runtimePlatforms = [
    ...new Set([...opts.platforms, ...(opts.smokeTest !== 'none' ? [deps.hostPlatform] : [])]),
  ];
  // A re-run or a new model version reuses the layers the registry already holds under the tags it
  // pushes; a run that pushes nothing reads no registry.
  const reuseFrom = (imageName: string, tags: string[]): string[] =>
    opts.push ? tags.map((t) => `${imageName}:${t}`) : [];
  // Each platform's runtime settles on its own: the host's starts the tests, every one the build.
  const startRuntimes = (imageName: string, tags: string[]): Runtimes => {
    const each = deps.prepareRuntimes(runtimePlatforms, reuseFrom(imageName, tags));
    for (const r of Object.values(each)) r.catch(() => undefined); // awaited below, maybe later
    const all = times.time('stage', () => settleAll(each));
    all.catch(() => undefined);
    // `stage-host`: what the smoke test waits for, when other platforms are staged beside it.
    const host = each[deps.hostPlatform];
    if (host && runtimePlatforms.length > 1) times.time('stage-host', () => host).catch(() => undefined);
    return { each, all };
  };
  const early = opts.image ? tagsWithoutModel(opts.tags, ctx) : undefined;
  const earlyRuntimes = early && opts.image ? startRuntimes(opts.image, early) : undefined;
  const withProcessTest = opts.smokeTest !== 'none';
  // One log group per stage; where two run side by side, the group's title says so (their lines mix).
  const hostFirst = withProcessTest && runtimePlatforms.length > 1;
  const runtimeTitle =
    `Staging the server runtime for ${runtimePlatforms.join(', ')}` +
    (hostFirst ? ` (${deps.hostPlatform} first, for the smoke test; the others beside it)` : '');

  const model = await stage(
    logger,
    `Resolving and downloading ${displayReference(opts.model)}` +
      (earlyRuntimes ? ', the server runtime staged meanwhile' : ''),
    () =>
      times.time('download', async () => {
        const m = await deps.fetchModel(opts, join(deps.workDir, 'model'));
        logger.info(`Model ${m.name} version ${m.version}: ${m.files.length} file(s), sha256 ${m.sha256}`);
        return m;
      }),
  );

  const imageName = opts.image ?? defaultImageName(opts.registry, ctx.repository, model.name);
  const tags = expandTags(opts.tags, { modelName: model.name, modelVersion: model.version, sha: ctx.sha });
  const runtimes = earlyRuntimes ?? startRuntimes(imageName, tags);
  const hostRuntime = runtimes.each[deps.hostPlatform];
  await stage(
    logger,
    runtimeTitle + (earlyRuntimes ? ', started beside the download' : ''),
    async () => void (await (hostFirst && hostRuntime ? hostRuntime : runtimes.all)),
  );
  /** The host's runtime directory (staged now when this run had no need of it so far). */
  const hostRuntimeDir = async (): Promise<string> =>
    (await hostRuntime)?.dir ??
    ((await deps.prepareRuntimes([deps.hostPlatform], [])[deps.hostPlatform])?.dir as string);

  // Before every test, so the smoke tests run the model as it ships.
  const layout = opts.externalWeights;
  const shipped =
    layout === 'false'
      ? model
      : await stage(logger, `Laying out the model (external-weights: ${layout})`, () =>
          times.time('layout', () => deps.prepareModel(model, hostRuntimeDir, layout)),
        );

  const labels: Record<string, string> = {
    ...(model.tokenizer && tokenizerLabels(model.tokenizer)),
    ...opts.labels,
  };
  if (shipped.original) labels[SHIPPED_SHA256_LABEL] = shipped.sha256;
  if (ctx.repository)
    labels['org.opencontainers.image.source'] ??=
      `${ctx.serverUrl ?? 'https://github.com'}/${ctx.repository}`;
  if (ctx.sha) labels['org.opencontainers.image.revision'] ??= ctx.sha;
  const build: Omit<BuildRequest, 'runtimes'> = {
    model: shipped,
    imageName,
    tags,
    labels,
    reuseLayersFrom: reuseFrom(imageName, tags),
  };
  // The process smoke test and the image build (layer compression) run side by side, so they share
  // one log group; nothing is pushed before both are done and the smoke test passed.
  const smokeTests: SmokeResult[] = [];
  const target = `${imageName} for ${opts.platforms.join(', ')}`;
  const { tested, image, sbom } = await stage(
    logger,
    withProcessTest ? `Smoke test in a process beside building ${target}` : `Building ${target}`,
    async () => {
      const processTest = withProcessTest
        ? times.time('smoke', async () => {
            const server = await deps.startServer(await hostRuntimeDir(), shipped, opts.serverEnv);
            return smokeTest('process', server, shipped, opts, deps, stopping);
          })
        : undefined;
      const request = runtimes.all.then((r): BuildRequest => ({ ...build, runtimes: r }));
      const built = request.then((req) =>
        times.time('build', async () => {
          const img = await deps.buildImage(req);
          logger.info(`Built ${imageName}@${img.digest}`);
          return img;
        }),
      );
      const documenting = built.then(async (img) =>
        opts.sbom
          ? times.time('sbom', async () => deps.writeSbom({ ...(await request), image: img }))
          : undefined,
      );
      const results = await Promise.allSettled([processTest, built, documenting]);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      const [t, i, d] = results as [
        PromiseFulfilledResult<SmokeResult | undefined>,
        PromiseFulfilledResult<Img>,
        PromiseFulfilledResult<SbomInfo | undefined>,
      ];
      return { tested: t.value, image: i.value, sbom: d.value };
    },
  );
  if (tested) smokeTests.push(tested);
  const wantContainer = await containerTest;

  if (wantContainer) {
    await stage(logger, 'Smoke test in a container', async () => {
      const archive = join(deps.workDir, 'docker-archive.tar');
      const localRef = `${imageName}:smoke-test-${image.digest.slice(7, 19)}`;
      await deps.writeDockerArchive(image, archive, deps.hostPlatform, [localRef]);
      const server = await deps.runContainer(archive, localRef);
      smokeTests.push(await smokeTest('container', server, shipped, opts, deps, stopping));
    });
  }

  let dockerPlatform: string | undefined;
  if (opts.archive) {
    // What `docker load` reads: one platform, the runner's when built, else the first listed.
    dockerPlatform = opts.platforms.includes(deps.hostPlatform) ? deps.hostPlatform : opts.platforms[0]!;
    if (opts.archiveFormat === 'docker') {
      const refs = tags.map((t) => `${imageName}:${t}`);
      await deps.writeDockerArchive(image, opts.archive, dockerPlatform, refs);
      logger.info(`Wrote the docker-archive ${opts.archive} (${dockerPlatform})`);
    } else {
      await deps.writeOciArchive(
        image,
        opts.archive,
        imageName,
        tags,
        dockerPlatform,
        sbom ? [sbom.artifact] : [],
      );
      logger.info(
        `Wrote the OCI image archive ${opts.archive} (${opts.platforms.join(', ')}; docker load reads ${dockerPlatform})`,
      );
    }
  }

  let upload: PushInfo | undefined;
  if (opts.push) {
    upload = await stage(logger, `Pushing ${imageName} with tags ${tags.join(', ')}`, () =>
      times.time('push', async () => {
        const pushed = await deps.pushImage(image, imageName, tags);
        logger.info(
          `Pushed ${imageName}@${pushed.digest}: ${pushed.blobsUploaded} blob(s) uploaded, ${pushed.blobsSkipped} already there`,
        );
        if (sbom) await attachSbom(deps, sbom, imageName, pushed.digest);
        return pushed;
      }),
    );
  }

  logger.info(`Stage times: ${times.summary()}`);

  let manifests: { dir: string; files: string[] } | undefined;
  if (opts.manifests && upload) {
    const files = await deps.writeManifests(opts.manifests, {
      image: `${imageName}@${upload.digest}`,
      modelName: model.name,
      modelVersion: model.version,
      port: opts.port,
      ...opts.resources,
    });
    manifests = { dir: opts.manifests, files };
    logger.info(`Wrote the Kubernetes and KServe manifests: ${files.join(', ')}`);
  }

  return {
    manifests,
    model: {
      name: model.name,
      version: model.version,
      sha256: model.sha256,
      source: model.source,
      files: model.files.length,
      bytes: model.files.reduce((n, f) => n + f.size, 0),
    },
    tokenizer: model.tokenizer,
    classLabels: model.classLabels,
    image: {
      name: imageName,
      digest: upload?.digest ?? image.digest,
      tags: opts.push ? (upload?.tags ?? tags) : tags,
      platformDigests: image.platformDigests,
      platformSizes: image.platformSizes,
      labels: image.labels,
      base: image.base,
      pushed: opts.push,
      archive: opts.archive,
      ...(opts.archive && {
        archiveFormat: opts.archiveFormat,
        archivePlatforms: opts.archiveFormat === 'docker' ? [dockerPlatform!] : opts.platforms,
        dockerLoadPlatform: dockerPlatform,
      }),
    },
    upload: upload && {
      blobsUploaded: upload.blobsUploaded,
      blobsSkipped: upload.blobsSkipped,
      bytesUploaded: upload.bytesUploaded,
    },
    smokeTests,
    ...(sbom && { sbom: { path: sbom.path, digest: sbom.artifact.digest, attached: opts.push } }),
  };
}

/** The BOM goes up only once the image and its tags are; a failure then says the image is there. */
async function attachSbom(
  deps: PipelineDeps<BuiltImageInfo>,
  sbom: SbomInfo,
  imageName: string,
  digest: string,
): Promise<void> {
  try {
    const how = await deps.attachReferrer(sbom.artifact, imageName);
    deps.logger.info(
      `Attached the SBOM ${imageName}@${sbom.artifact.digest} to ${digest} (${how === 'referrers-api' ? 'indexed by the registry' : 'listed under the referrers tag'})`,
    );
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new UserError(
      `The image ${imageName}@${digest} and its tags were pushed, but attaching its SBOM failed: ${why}`,
      `${isUserError(e) ? `${e.fix} ` : ''}Re-running pushes nothing twice and attaches it; or set sbom: false.`,
    );
  }
}

/** Each platform's runtime (settling on its own) and all of them (what the build needs). */
interface Runtimes {
  each: Record<string, Promise<PreparedRuntime>>;
  all: Promise<Record<string, PreparedRuntime>>;
}

async function settleAll<T>(each: Record<string, Promise<T>>): Promise<Record<string, T>> {
  return Object.fromEntries(
    await Promise.all(Object.entries(each).map(async ([k, p]) => [k, await p] as const)),
  );
}

/** Seconds spent per stage (stages may overlap: the runtime with the download, smoke with build). */
class StageTimes {
  private readonly spans: [string, number][] = [];
  async time<T>(name: string, f: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.spans.push([name, (performance.now() - t0) / 1000]);
    }
  }
  /** `download 0.05 s, stage 0.31 s, ...` in the order the stages ended. */
  summary(): string {
    return this.spans.map(([n, s]) => `${n} ${s.toFixed(2)} s`).join(', ');
  }
}

/**
 * The tags that name no model field, expanded: known before the model is resolved, so the earlier
 * images under them can be read meanwhile. Undefined when there are none.
 */
function tagsWithoutModel(templates: string[], ctx: RunContext): string[] | undefined {
  const list = (templates.length > 0 ? templates : ['{model-version}', 'latest']).filter(
    (t) => !/\{model-(version|name)\}/.test(t),
  );
  if (list.length === 0) return undefined;
  try {
    return expandTags(list, { modelName: '', modelVersion: '', sha: ctx.sha });
  } catch {
    return undefined; // a tag this run cannot expand fails later, with the model, as before
  }
}

/** auto: a container test when a Docker engine answers and can run the host platform's image. */
async function decideContainerTest(
  opts: PackageOptions,
  deps: PipelineDeps<BuiltImageInfo>,
): Promise<boolean> {
  if (opts.smokeTest === 'none' || opts.smokeTest === 'process') return false;
  const hostBuilt = opts.platforms.includes(deps.hostPlatform);
  const engine = await deps.dockerEngineVersion();
  if (opts.smokeTest === 'container') {
    if (!engine) {
      throw new UserError(
        "smoke-test is 'container' but no Docker engine answers (docker version failed).",
        "Run on a runner with Docker (ubuntu-latest has it), or use 'smoke-test: process'.",
      );
    }
    if (!hostBuilt) {
      throw new UserError(
        `smoke-test is 'container' but this runner is ${deps.hostPlatform}, which 'platforms' does not build.`,
        `Add ${deps.hostPlatform} to 'platforms', or use 'smoke-test: process'.`,
      );
    }
    return true;
  }
  if (!engine)
    deps.logger.info('No Docker engine answers: the container smoke test is skipped (smoke-test: auto).');
  else if (!hostBuilt)
    deps.logger.info(`The container smoke test is skipped: ${deps.hostPlatform} is not built.`);
  return Boolean(engine) && hostBuilt;
}

/** Runs the smoke test on `server`, then stops it in the background (pushed to `stopping`). */
async function smokeTest(
  mode: 'process' | 'container',
  server: RunningServer,
  model: Model,
  opts: PackageOptions,
  deps: PipelineDeps<BuiltImageInfo>,
  stopping: Promise<void>[],
): Promise<SmokeResult> {
  const fetchImpl = deps.fetch;
  try {
    const inputs = model.textModel ? [] : await modelInputs(fetchImpl, server.baseUrl, model.name);
    const request = planSmokeRequest({
      textModel: model.textModel,
      modelName: model.name,
      inputs,
      input: opts.smokeTestInput,
    });
    return await runSmokeTest({
      mode,
      baseUrl: server.baseUrl,
      request,
      expect: opts.smokeTestExpect,
      fetchImpl,
    });
  } finally {
    stopping.push(
      server.stop().catch((e: unknown) => {
        deps.logger.warning(
          `Stopping the ${mode} smoke test's server failed: ${e instanceof Error ? e.message : String(e)}`,
        );
      }),
    );
  }
}

/** The model's input tensors from the Open Inference Protocol metadata endpoint. */
async function modelInputs(fetchImpl: typeof fetch, baseUrl: string, name: string): Promise<TensorSpec[]> {
  const res = await fetchImpl(`${baseUrl}/v2/models/${encodeURIComponent(name)}`);
  if (!res.ok) throw new Error(`GET /v2/models/${name} answered ${res.status}`);
  const meta = (await res.json()) as { inputs?: TensorSpec[] };
  return meta.inputs ?? [];
}
