/**
 * Image assembly: for each requested platform present in the base, append [runtime for that platform]
 * and [model] layers, extend rootfs.diff_ids and history, set the entrypoint, env, ports, workdir,
 * non-root user and labels, and write the manifest; an index when more than one platform. Everything
 * is content-addressed in `workDir` (an OCI image layout), so outputs can be computed before a push.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { RegistryCredentials } from './auth.js';
import { loadBase, selectPlatforms, type BaseImage, type BasePlatform, type BlobLocation } from './base.js';
import { BlobStore } from './blobs.js';
import { GZIP_LEVEL, entriesFromDir, layerDiffId, writeLayer, type LayerEntry } from './layer.js';
import { reusableLayers, verifyReusable, type ReusableLayer } from './reuse.js';
import { familyTypes, platformKey, type Descriptor, type Family, type Platform } from './oci.js';
import type { RegistryClient } from './registry.js';

export const IMAGE_ROOT = 'app';
export const SERVER_PATH = '/app/server';
export const MODEL_PATH = '/app/model';
/** Non-root user when the base does not name a numeric non-root one (distroless's `nonroot`). */
export const DEFAULT_USER = '65532:65532';

/** Model labels (config Labels and manifest annotations). */
export const MODEL_LABELS = {
  name: 'io.github.package-onnx-model.model.name',
  version: 'io.github.package-onnx-model.model.version',
  sha256: 'io.github.package-onnx-model.model.sha256',
  source: 'io.github.package-onnx-model.model.source',
} as const;

export interface BuildOptions {
  base: BaseSelection;
  model: ModelFacts;
  server: ServerPayload;
  metadata: ImageMetadata;
  /** How to reach the registries (the base's, earlier images'). */
  registries?: RegistryAccess;
  reuse?: LayerReuse;
  output: BuildOutput;
  logger: Logger;
}

/** The base image and the platforms taken from it. */
export interface BaseSelection {
  /** `oci-layout:PATH`, `oci-archive:PATH` or a registry reference. */
  image: string;
  /** `os/arch` list; each must be in the base. */
  platforms: string[];
}

/** The model's files and identity (the `model` labels and the layer's history). */
export interface ModelFacts {
  dir: string;
  name: string;
  version: string;
  sha256: string;
  source: string;
}

/** The server: its runtime per platform and its settings. */
export interface ServerPayload {
  /** Staged runtime directory per platform (`stageRuntime(p).dir`), keyed by platform. */
  runtime: Record<string, string>;
  /**
   * Runtime layers already verified in a registry (`provideRuntimes`), by platform: referenced as they
   * are when their media type matches the base's; else the layer is built from `runtime`.
   */
  runtimeLayers?: Record<string, RuntimeLayer>;
  /**
   * Stages the runtime of a platform `runtime` lacks (one only referenced in `runtimeLayers`) when its
   * layer has to be built after all (the base's layer media type differs from the verified one's).
   */
  stageMissingRuntime?: (platform: string) => Promise<string>;
  /** Server settings baked into the image env (PORT, WORKERS, ...). */
  env: Record<string, string>;
  port: number;
}

/** Labels and times. */
export interface ImageMetadata {
  /** User labels: they override the generated ones. */
  labels: Record<string, string>;
  source?: string;
  revision?: string;
  licenses?: string;
  /** Seconds since the epoch for mtimes and `created` (default 0 for mtimes, the base's `created`). */
  sourceDateEpoch?: number;
}

export interface RegistryAccess {
  /** Push credentials and registry host: reused for a base on the same host (as docker login would). */
  registryAuth?: RegistryCredentials;
  pushRegistry?: string;
  baseAuth?: RegistryCredentials;
  insecureRegistries?: string[];
  fetch?: typeof fetch;
}

export interface LayerReuse {
  /**
   * Earlier images (`registry/repo:tag`, normally the target's tags) whose layers may be reused: a
   * layer whose diff_id (uncompressed content) matches one of theirs is not compressed again; the
   * registry's blob is fetched, verified to decompress to that diff_id, and referenced instead (as
   * Docker and BuildKit reuse layers, minus their trust in the registry). Read with `registryAuth` when
   * on the push registry; missing, unreadable or mismatching ones are ignored (mismatches warned).
   */
  from?: string[];
  /** The layers `from` offers, when the caller read them already (`reusableLayers`). */
  layers?: Map<string, ReusableLayer>;
}

export interface BuildOutput {
  /** The OCI image layout everything is written to. */
  workDir: string;
  /** gzip level for the layers (default GZIP_LEVEL). Part of the digest: keep it fixed. */
  gzipLevel?: number;
}

export interface BlobRecord {
  digest: string;
  size: number;
  mediaType: string;
  location: BlobLocation;
}

export interface BuiltPlatform {
  platform: string;
  digest: string;
  mediaType: string;
  manifest: Buffer;
  configDigest: string;
  /** Config digest = the image ID `docker load` reports. */
  config: Buffer;
  /** Layer descriptors, base first. */
  layers: Descriptor[];
  diffIds: string[];
  /** Manifest + config + layers, compressed bytes. */
  size: number;
}

export interface BuiltImage {
  /** The index digest when several platforms, else the single manifest's digest. */
  digest: string;
  mediaType: string;
  /** Bytes of the top manifest (index or single manifest). */
  bytes: Buffer;
  family: Family;
  platforms: BuiltPlatform[];
  /** Every blob (base layers included) and where it lives. */
  blobs: Map<string, BlobRecord>;
  base: { name: string; digest: string; registry?: string; repository?: string; client?: RegistryClient };
  labels: Record<string, string>;
  store: BlobStore;
  workDir: string;
}

/** A layer of ours: compressed here (a file), or reused from an earlier image in a registry. */
export interface ProducedLayer {
  digest: string;
  diffId: string;
  size: number;
  mediaType: string;
  location: BlobLocation;
}

/** A runtime layer verified in a registry before the build (see src/runtime/provide.ts). */
export type RuntimeLayer = ProducedLayer;

function rfc3339(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
}

const NODE_RE = /(^|\/)(node|nodejs)$/;

/**
 * Entrypoint and Cmd: node runs the server whatever the base's entrypoint is. Distroless bases name node
 * in their Entrypoint (/nodejs/bin/node): keep that binary. Shell bases (node:*-slim's
 * docker-entrypoint.sh, or Cmd ["node"]) get `node` from PATH. Cmd is cleared: the base's Cmd would
 * otherwise be appended as arguments.
 */
export function entrypointFor(baseConfig: Record<string, unknown>): string[] {
  const entry = Array.isArray(baseConfig['Entrypoint']) ? (baseConfig['Entrypoint'] as string[]) : [];
  const cmd = Array.isArray(baseConfig['Cmd']) ? (baseConfig['Cmd'] as string[]) : [];
  const node =
    entry[0] && NODE_RE.test(entry[0])
      ? entry[0]
      : cmd[0] && entry.length === 0 && NODE_RE.test(cmd[0]) && cmd[0].startsWith('/')
        ? cmd[0]
        : 'node';
  return [node, `${SERVER_PATH}/index.js`];
}

/**
 * The image's user, always a numeric non-root `uid:gid` (Kubernetes' runAsNonRoot can only check a
 * numeric user, and an absent group means gid 0, root's group). A base's numeric non-root uid is kept
 * (distroless `:nonroot` says "65532", node images' "1000") with its gid when that is numeric and not 0,
 * else the gid equal to the uid (both conventions pair them); root, no user or a user name (not
 * resolvable without the base's /etc/passwd) become 65532:65532, distroless's `nonroot`.
 */
export function userFor(baseConfig: Record<string, unknown>): string {
  const u = typeof baseConfig['User'] === 'string' ? baseConfig['User'] : '';
  const m = /^(\d+)(?::(.*))?$/.exec(u.trim());
  const uid = m?.[1] !== undefined ? Number(m[1]) : 0;
  if (uid === 0 || !Number.isSafeInteger(uid)) return DEFAULT_USER;
  const gid = m?.[2] !== undefined && /^\d+$/.test(m[2]) ? Number(m[2]) : 0;
  return `${uid}:${gid !== 0 && Number.isSafeInteger(gid) ? gid : uid}`;
}

/** Base env with ours merged in (same key: ours wins, position kept); new keys appended sorted. */
export function mergeEnv(baseEnv: unknown, ours: Record<string, string>): string[] {
  const list = Array.isArray(baseEnv) ? (baseEnv as string[]).filter((e) => typeof e === 'string') : [];
  const keys = new Set(Object.keys(ours));
  const out = list.map((e) => {
    const k = e.split('=')[0] ?? '';
    return keys.has(k) ? `${k}=${ours[k]}` : e;
  });
  const present = new Set(list.map((e) => e.split('=')[0]));
  for (const k of [...keys].sort()) if (!present.has(k)) out.push(`${k}=${ours[k]}`);
  return out;
}

export function imageLabels(
  model: ModelFacts,
  meta: ImageMetadata,
  base: BaseImage,
  created: string,
): Record<string, string> {
  const l: Record<string, string> = {
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.title': model.name,
    'org.opencontainers.image.description': `ONNX model ${model.name} version ${model.version}, served over HTTP (/predict, Open Inference Protocol v2, KServe v1)`,
    'org.opencontainers.image.version': model.version,
    'org.opencontainers.image.base.name': base.name,
    'org.opencontainers.image.base.digest': base.digest,
    ...(meta.source && { 'org.opencontainers.image.source': meta.source }),
    ...(meta.revision && { 'org.opencontainers.image.revision': meta.revision }),
    ...(meta.licenses && { 'org.opencontainers.image.licenses': meta.licenses }),
    [MODEL_LABELS.name]: model.name,
    [MODEL_LABELS.version]: model.version,
    [MODEL_LABELS.sha256]: model.sha256,
    [MODEL_LABELS.source]: model.source,
  };
  return { ...l, ...meta.labels };
}

function sortedRecord(r: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The new config for one platform: the base's, every unknown field kept. */
export function assembleConfig(
  baseConfig: Record<string, unknown>,
  layers: { diffId: string; createdBy: string }[],
  opts: { created: string; env: Record<string, string>; port: number; labels: Record<string, string> },
): Record<string, unknown> {
  const cfg = structuredClone(baseConfig);
  const inner = { ...((cfg['config'] as Record<string, unknown> | undefined) ?? {}) };
  const entrypoint = entrypointFor(inner);
  inner['User'] = userFor(inner);
  inner['Env'] = mergeEnv(inner['Env'], opts.env);
  inner['Entrypoint'] = entrypoint;
  delete inner['Cmd'];
  inner['WorkingDir'] = `/${IMAGE_ROOT}`;
  inner['ExposedPorts'] = { [`${opts.port}/tcp`]: {} };
  inner['Labels'] = sortedRecord({
    ...((inner['Labels'] as Record<string, string> | null) ?? {}),
    ...opts.labels,
  });
  inner['StopSignal'] = 'SIGTERM';
  delete inner['Healthcheck'];
  cfg['config'] = inner;
  cfg['created'] = opts.created;
  const rootfs = (cfg['rootfs'] as { type?: string; diff_ids?: string[] } | undefined) ?? {
    type: 'layers',
    diff_ids: [],
  };
  cfg['rootfs'] = {
    type: rootfs.type ?? 'layers',
    diff_ids: [...(rootfs.diff_ids ?? []), ...layers.map((l) => l.diffId)],
  };
  const history = Array.isArray(cfg['history']) ? (cfg['history'] as unknown[]) : [];
  cfg['history'] = [
    ...history,
    ...layers.map((l) => ({ created: opts.created, created_by: l.createdBy, comment: 'package-onnx-model' })),
  ];
  return cfg;
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

function baseBlobLocation(base: BaseImage, digest: string): BlobLocation {
  return base.location.kind === 'layout'
    ? { kind: 'file', path: base.location.store.path(digest) }
    : { kind: 'registry', client: base.location.client, repository: base.location.ref.repository };
}

type MediaTypes = ReturnType<typeof familyTypes>;

export async function buildImage(opts: BuildOptions): Promise<BuiltImage> {
  const { base, selected } = await loadSelectedBase(opts);
  const types = familyTypes(base.family);
  const created = createdTime(opts.metadata.sourceDateEpoch, selected);
  const labels = imageLabels(opts.model, opts.metadata, base, created);
  const store = new BlobStore(opts.output.workDir);
  const { model, runtimes } = await buildLayers(opts, store, selected, types);
  const blobs = new Map<string, BlobRecord>();
  const { server } = opts;
  const context: PlatformContext = {
    store,
    blobs,
    base,
    types,
    created,
    labels,
    env: { NODE_ENV: 'production', ...server.env, MODEL_DIR: MODEL_PATH, PORT: String(server.port) },
    port: server.port,
    modelCreatedBy: `COPY model ${opts.model.name}:${opts.model.version} ${MODEL_PATH}`,
  };
  const platforms: BuiltPlatform[] = [];
  for (const [i, bp] of selected.entries()) {
    platforms.push(await assemblePlatform(context, bp, runtimes[i] as ProducedLayer, model));
  }
  const top = await writeTop(context, selected, platforms);
  await writeLayoutIndex(opts.output.workDir, top);
  return {
    digest: top.digest,
    mediaType: top.mediaType,
    bytes: top.bytes,
    family: base.family,
    platforms,
    blobs,
    base: baseInfo(base),
    labels,
    store,
    workDir: opts.output.workDir,
  };
}

/** The base image, and its platforms that were requested (each must be there). */
async function loadSelectedBase(opts: BuildOptions): Promise<{ base: BaseImage; selected: BasePlatform[] }> {
  const { image, platforms } = opts.base;
  if (platforms.length === 0) {
    throw new UserError('No platforms requested.', "Set platforms, e.g. 'linux/amd64,linux/arm64'.");
  }
  const requested = [...new Set(platforms.map((p) => platformKey(p)))];
  const { workDir } = opts.output;
  await mkdir(workDir, { recursive: true });
  const base = await loadBase(image, { logger: opts.logger, workDir, ...opts.registries });
  return { base, selected: selectPlatforms(base, requested) };
}

/** `SOURCE_DATE_EPOCH` when set, else the (first) base config's `created`, else the epoch. */
function createdTime(sourceDateEpoch: number | undefined, selected: BasePlatform[]): string {
  if (sourceDateEpoch !== undefined) return rfc3339(sourceDateEpoch);
  const baseCreated = selected[0]?.config['created'];
  return typeof baseCreated === 'string' ? baseCreated : rfc3339(0);
}

/**
 * Our layers: the model layer (shared) and a runtime layer per platform, built concurrently; each is
 * compressed here, or reused from an earlier image when verified.
 */
async function buildLayers(
  opts: BuildOptions,
  store: BlobStore,
  selected: BasePlatform[],
  types: MediaTypes,
): Promise<{ model: ProducedLayer; runtimes: ProducedLayer[] }> {
  const t0 = Date.now();
  const { model, server, metadata } = opts;
  // Model files are data: read-only (0444) whatever their mode on disk, folders 0555.
  const modelEntries = await entriesFromDir(model.dir, `${IMAGE_ROOT}/model`, { executable: false });
  if (!modelEntries.some((e) => e.type === 'file')) {
    throw new UserError(
      `The model directory ${model.dir} is empty.`,
      'Download the model first; the directory must hold the .onnx file.',
    );
  }
  const producer = new LayerProducer(store, await offeredLayers(opts, types), opts.logger, {
    mediaType: types.layer,
    level: opts.output.gzipLevel ?? GZIP_LEVEL,
    ...(metadata.sourceDateEpoch !== undefined && { sourceDateEpoch: metadata.sourceDateEpoch }),
  });
  const runtimeLayers = selected.map(async (bp) => {
    const verified = server.runtimeLayers?.[bp.key];
    if (verified?.mediaType === types.layer) return producer.verified(verified);
    const dir = server.runtime[bp.key] ?? (await server.stageMissingRuntime?.(bp.key));
    if (!dir) throw new Error(`no staged runtime for ${bp.key}`);
    return producer.runtime(await entriesFromDir(dir, `${IMAGE_ROOT}/server`));
  });
  const [modelLayer, ...runtimes] = await Promise.all([producer.model(modelEntries), ...runtimeLayers]);
  if (!modelLayer) throw new Error('model layer missing');
  opts.logger.info(
    `Built ${runtimes.length + 1} layers (${producer.reused} reused from earlier images, verified: ${(producer.reuseFetched / 1e6).toFixed(1)} MB read) in ${((Date.now() - t0) / 1000).toFixed(1)} s (model ${(modelLayer.size / 1e6).toFixed(1)} MB compressed)`,
  );
  return { model: modelLayer, runtimes };
}

/** The layers earlier images offer for reuse, by diff_id (none when no earlier image is named). */
async function offeredLayers(opts: BuildOptions, types: MediaTypes): Promise<Map<string, ReusableLayer>> {
  const { from, layers } = opts.reuse ?? {};
  if (layers) return layers;
  if (!from || from.length === 0) return new Map();
  return reusableLayers(from, { logger: opts.logger, layerMediaType: types.layer, ...opts.registries });
}

/**
 * Produces our layers: layers an earlier image already has (same diff_id) are referenced once
 * verified, not compressed again; counts what was reused for the log.
 */
class LayerProducer {
  reused = 0;
  /** Bytes read from registries to verify reused layers. */
  reuseFetched = 0;

  constructor(
    private readonly store: BlobStore,
    private readonly offered: Map<string, ReusableLayer>,
    private readonly logger: Logger,
    private readonly layerOpts: { mediaType: string; level: number; sourceDateEpoch?: number },
  ) {}

  /** A runtime layer verified in a registry before the build: referenced as it is. */
  verified(layer: RuntimeLayer): ProducedLayer {
    this.reused++;
    return layer;
  }

  /**
   * A runtime layer: its diff_id first (no compression), and a verified registry blob referenced when
   * an earlier image has it, else compressed.
   */
  async runtime(entries: LayerEntry[]): Promise<ProducedLayer> {
    if (this.offered.size > 0) {
      const hit = await this.reference(await layerDiffId(entries, this.layerOpts));
      if (hit) return hit;
    }
    return this.compress(entries);
  }

  /**
   * The model layer: compressed first, in the one pass that also gives its diff_id (a new model
   * version, the usual case, needs the compression anyway). The same blob already in the registry (a
   * re-run) is uploaded by no one (the push finds it); one with that content but other bytes (another
   * compressor) is verified and referenced instead of uploading ours.
   */
  async model(entries: LayerEntry[]): Promise<ProducedLayer> {
    const l = await this.compress(entries);
    const offered = this.offered.get(l.diffId);
    if (offered?.digest === l.digest) this.reused++;
    else if (offered) return (await this.reference(l.diffId)) ?? l;
    return l;
  }

  private async compress(entries: LayerEntry[]): Promise<ProducedLayer> {
    const l = await writeLayer(this.store, entries, this.layerOpts);
    return { ...l, location: { kind: 'file', path: l.path } };
  }

  /** A registry blob with `diffId`, referenced once verified; undefined when none verifies. */
  private async reference(diffId: string): Promise<ProducedLayer | undefined> {
    const found = this.offered.get(diffId);
    const hit = found?.mediaType === this.layerOpts.mediaType ? found : undefined;
    // Only bytes verified here are referenced: fetched, digest-checked, and decompressing to the
    // diff_id computed from our own files. They stay in the store for the outputs; the location keeps
    // the registry so that a push to another repository there can mount the blob.
    const ok = hit && (await verifyReusable(hit, diffId, this.store, this.logger));
    if (!hit || !ok) return undefined;
    this.reused++;
    this.reuseFetched += ok.fetched;
    const location: BlobLocation = { kind: 'registry', client: hit.client, repository: hit.repository };
    return { digest: hit.digest, diffId, size: ok.size, mediaType: hit.mediaType, location };
  }
}

/** What every platform's config and manifest share; `blobs` collects every blob and its location. */
interface PlatformContext {
  store: BlobStore;
  blobs: Map<string, BlobRecord>;
  base: BaseImage;
  types: MediaTypes;
  created: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  port: number;
  modelCreatedBy: string;
}

/** One platform's config and manifest: the base's layers, then the runtime and the model. */
async function assemblePlatform(
  c: PlatformContext,
  bp: BasePlatform,
  runtime: ProducedLayer,
  model: ProducedLayer,
): Promise<BuiltPlatform> {
  const cfg = assembleConfig(
    bp.config,
    [
      { diffId: runtime.diffId, createdBy: `COPY server runtime (${bp.key}) ${SERVER_PATH}` },
      { diffId: model.diffId, createdBy: c.modelCreatedBy },
    ],
    { created: c.created, env: c.env, port: c.port, labels: c.labels },
  );
  const configBytes = json(cfg);
  const config = await c.store.putBuffer(configBytes);
  recordBlobs(c, bp, config, [runtime, model]);
  const layers: Descriptor[] = [
    ...bp.manifest.layers,
    { mediaType: runtime.mediaType, digest: runtime.digest, size: runtime.size },
    { mediaType: model.mediaType, digest: model.digest, size: model.size },
  ];
  const manifest = {
    schemaVersion: 2,
    mediaType: c.types.manifest,
    config: { mediaType: c.types.config, digest: config.digest, size: config.size },
    layers,
    ...(c.base.family === 'oci' && { annotations: sortedRecord(c.labels) }),
  };
  const manifestBytes = json(manifest);
  const m = await c.store.putBuffer(manifestBytes);
  return {
    platform: bp.key,
    digest: m.digest,
    mediaType: c.types.manifest,
    manifest: manifestBytes,
    configDigest: config.digest,
    config: configBytes,
    layers,
    diffIds: (cfg['rootfs'] as { diff_ids: string[] }).diff_ids,
    size: manifestBytes.length + config.size + layers.reduce((a, l) => a + l.size, 0),
  };
}

/** Where the platform's blobs live: the config in the store, the base's layers where the base is, ours. */
function recordBlobs(
  c: PlatformContext,
  bp: BasePlatform,
  config: { digest: string; size: number },
  ours: ProducedLayer[],
): void {
  const { blobs } = c;
  blobs.set(config.digest, {
    digest: config.digest,
    size: config.size,
    mediaType: c.types.config,
    location: { kind: 'file', path: c.store.path(config.digest) },
  });
  for (const l of bp.manifest.layers) {
    if (!blobs.has(l.digest)) {
      const location = baseBlobLocation(c.base, l.digest);
      blobs.set(l.digest, { digest: l.digest, size: l.size, mediaType: l.mediaType, location });
    }
  }
  for (const l of ours) {
    blobs.set(l.digest, { digest: l.digest, size: l.size, mediaType: l.mediaType, location: l.location });
  }
}

/** The top of the image: the single platform's manifest, or an index of them. */
async function writeTop(
  c: PlatformContext,
  selected: BasePlatform[],
  platforms: BuiltPlatform[],
): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
  const first = platforms[0];
  if (platforms.length === 1 && first) {
    return { bytes: first.manifest, mediaType: first.mediaType, digest: first.digest };
  }
  const index = {
    schemaVersion: 2,
    mediaType: c.types.index,
    manifests: platforms.map((p, i) => {
      const bp = selected[i] as BasePlatform;
      const platform: Platform = {
        architecture: bp.platform.architecture,
        os: bp.platform.os,
        ...(bp.platform.variant && { variant: bp.platform.variant }),
      };
      return { mediaType: p.mediaType, digest: p.digest, size: p.manifest.length, platform };
    }),
    ...(c.base.family === 'oci' && { annotations: sortedRecord(c.labels) }),
  };
  const bytes = json(index);
  const d = await c.store.putBuffer(bytes);
  return { bytes, mediaType: c.types.index, digest: d.digest };
}

function baseInfo(base: BaseImage): BuiltImage['base'] {
  return base.location.kind === 'registry'
    ? {
        name: base.name,
        digest: base.digest,
        registry: base.location.ref.registry,
        repository: base.location.ref.repository,
        client: base.location.client,
      }
    : { name: base.name, digest: base.digest };
}

/** Makes the work dir a valid OCI layout pointing at the image (handy for skopeo oci:DIR). */
async function writeLayoutIndex(
  dir: string,
  top: { bytes: Buffer; mediaType: string; digest: string },
): Promise<void> {
  await writeFile(join(dir, 'oci-layout'), json({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    json({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.bytes.length }],
    }),
  );
}
