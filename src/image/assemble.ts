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
  /** `oci-layout:PATH`, `oci-archive:PATH` or a registry reference. */
  base: string;
  /** `os/arch` list; each must be in the base. */
  platforms: string[];
  /** Staged runtime directory per platform (`stageRuntime(p).dir`), keyed by platform. */
  runtime: Record<string, string>;
  modelDir: string;
  modelName: string;
  modelVersion: string;
  modelSha256: string;
  modelSource: string;
  /** Server settings baked into the image env (PORT, WORKERS, ...). */
  env: Record<string, string>;
  port: number;
  /** User labels: they override the generated ones. */
  labels: Record<string, string>;
  source?: string;
  revision?: string;
  licenses?: string;
  /** Seconds since the epoch for mtimes and `created` (default 0 for mtimes, the base's `created`). */
  sourceDateEpoch?: number;
  /** Push credentials and registry host: reused for a base on the same host (as docker login would). */
  registryAuth?: RegistryCredentials;
  pushRegistry?: string;
  baseAuth?: RegistryCredentials;
  insecureRegistries?: string[];
  logger: Logger;
  workDir: string;
  fetch?: typeof fetch;
  /**
   * Earlier images (`registry/repo:tag`, normally the target's tags) whose layers may be reused: a
   * layer whose diff_id (uncompressed content) matches one of theirs is not compressed again; the
   * registry's blob is fetched, verified to decompress to that diff_id, and referenced instead (as
   * Docker and BuildKit reuse layers, minus their trust in the registry). Read with `registryAuth` when
   * on the push registry; missing, unreadable or mismatching ones are ignored (mismatches warned).
   */
  reuseLayersFrom?: string[];
  /** The layers `reuseLayersFrom` offers, when the caller read them already (`reusableLayers`). */
  reusable?: Map<string, ReusableLayer>;
  /**
   * Runtime layers already verified in a registry (`provideRuntimes`), by platform: referenced as they
   * are when their media type matches the base's; else the layer is built from `runtime`.
   */
  runtimeLayers?: Record<string, RuntimeLayer>;
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

export function imageLabels(opts: BuildOptions, base: BaseImage, created: string): Record<string, string> {
  const l: Record<string, string> = {
    'org.opencontainers.image.created': created,
    'org.opencontainers.image.title': opts.modelName,
    'org.opencontainers.image.description': `ONNX model ${opts.modelName} version ${opts.modelVersion}, served over HTTP (/predict, Open Inference Protocol v2, KServe v1)`,
    'org.opencontainers.image.version': opts.modelVersion,
    'org.opencontainers.image.base.name': base.name,
    'org.opencontainers.image.base.digest': base.digest,
    ...(opts.source && { 'org.opencontainers.image.source': opts.source }),
    ...(opts.revision && { 'org.opencontainers.image.revision': opts.revision }),
    ...(opts.licenses && { 'org.opencontainers.image.licenses': opts.licenses }),
    [MODEL_LABELS.name]: opts.modelName,
    [MODEL_LABELS.version]: opts.modelVersion,
    [MODEL_LABELS.sha256]: opts.modelSha256,
    [MODEL_LABELS.source]: opts.modelSource,
  };
  return { ...l, ...opts.labels };
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

export async function buildImage(opts: BuildOptions): Promise<BuiltImage> {
  if (opts.platforms.length === 0) {
    throw new UserError('No platforms requested.', "Set platforms, e.g. 'linux/amd64,linux/arm64'.");
  }
  const requested = [...new Set(opts.platforms.map((p) => platformKey(p)))];
  const store = new BlobStore(opts.workDir);
  await mkdir(opts.workDir, { recursive: true });
  const base = await loadBase(opts.base, {
    logger: opts.logger,
    workDir: opts.workDir,
    ...(opts.pushRegistry && { pushRegistry: opts.pushRegistry }),
    ...(opts.registryAuth && { registryAuth: opts.registryAuth }),
    ...(opts.baseAuth && { baseAuth: opts.baseAuth }),
    ...(opts.insecureRegistries && { insecureRegistries: opts.insecureRegistries }),
    ...(opts.fetch && { fetch: opts.fetch }),
  });
  const selected = selectPlatforms(base, requested);
  const types = familyTypes(base.family);
  const created =
    opts.sourceDateEpoch !== undefined
      ? rfc3339(opts.sourceDateEpoch)
      : typeof selected[0]?.config['created'] === 'string'
        ? (selected[0].config['created'] as string)
        : rfc3339(0);
  const labels = imageLabels(opts, base, created);
  const env = { NODE_ENV: 'production', ...opts.env, MODEL_DIR: MODEL_PATH, PORT: String(opts.port) };
  const layerOpts = {
    mediaType: types.layer,
    level: opts.gzipLevel ?? GZIP_LEVEL,
    ...(opts.sourceDateEpoch !== undefined && { sourceDateEpoch: opts.sourceDateEpoch }),
  };

  const t0 = Date.now();
  // Model files are data: read-only (0444) whatever their mode on disk, folders 0555.
  const modelEntries = await entriesFromDir(opts.modelDir, `${IMAGE_ROOT}/model`, { executable: false });
  const modelFiles = modelEntries.filter((e) => e.type === 'file');
  if (modelFiles.length === 0) {
    throw new UserError(
      `The model directory ${opts.modelDir} is empty.`,
      'Download the model first; the directory must hold the .onnx file.',
    );
  }
  // Layers an earlier image already has (same diff_id) are referenced, not compressed again.
  const reuse =
    opts.reusable ??
    (opts.reuseLayersFrom && opts.reuseLayersFrom.length > 0
      ? await reusableLayers(opts.reuseLayersFrom, {
          logger: opts.logger,
          layerMediaType: types.layer,
          ...(opts.pushRegistry && { pushRegistry: opts.pushRegistry }),
          ...(opts.registryAuth && { registryAuth: opts.registryAuth }),
          ...(opts.insecureRegistries && { insecureRegistries: opts.insecureRegistries }),
          ...(opts.fetch && { fetch: opts.fetch }),
        })
      : new Map<string, ReusableLayer>());
  let reused = 0;
  let reuseFetched = 0;
  /** A registry blob with `diffId`, referenced once verified; undefined when none verifies. */
  const reference = async (diffId: string): Promise<ProducedLayer | undefined> => {
    const found = reuse.get(diffId);
    const hit = found?.mediaType === types.layer ? found : undefined;
    // Only bytes verified here are referenced: fetched, digest-checked, and decompressing to the
    // diff_id computed from our own files. They stay in the store for the outputs; the location keeps
    // the registry so that a push to another repository there can mount the blob.
    const ok = hit && (await verifyReusable(hit, diffId, store, opts.logger));
    if (!hit || !ok) return undefined;
    reused++;
    reuseFetched += ok.fetched;
    const location: BlobLocation = { kind: 'registry', client: hit.client, repository: hit.repository };
    return { digest: hit.digest, diffId, size: ok.size, mediaType: hit.mediaType, location };
  };
  const compress = async (entries: LayerEntry[]): Promise<ProducedLayer> => {
    const l = await writeLayer(store, entries, layerOpts);
    return { ...l, location: { kind: 'file', path: l.path } };
  };
  /**
   * A runtime layer: its diff_id first (no compression), and a verified registry blob referenced when
   * an earlier image has it, else compressed.
   */
  const produce = async (entries: LayerEntry[]): Promise<ProducedLayer> =>
    (reuse.size > 0 && (await reference(await layerDiffId(entries, layerOpts)))) || compress(entries);
  /**
   * The model layer: compressed first, in the one pass that also gives its diff_id (a new model
   * version, the usual case, needs the compression anyway). The same blob already in the registry (a
   * re-run) is uploaded by no one (the push finds it); one with that content but other bytes (another
   * compressor) is verified and referenced instead of uploading ours.
   */
  const produceModel = async (entries: LayerEntry[]): Promise<ProducedLayer> => {
    const l = await compress(entries);
    const offered = reuse.get(l.diffId);
    if (offered?.digest === l.digest) reused++;
    else if (offered) return (await reference(l.diffId)) ?? l;
    return l;
  };
  // Runtime layers (one per platform) and the model layer (shared) are built concurrently.
  const runtimeLayers = selected.map(async (bp) => {
    const verified = opts.runtimeLayers?.[bp.key];
    if (verified?.mediaType === types.layer) {
      reused++;
      return verified;
    }
    const dir = opts.runtime[bp.key];
    if (!dir) throw new Error(`no staged runtime for ${bp.key}`);
    return produce(await entriesFromDir(dir, `${IMAGE_ROOT}/server`));
  });
  const [modelLayer, ...runtimes] = await Promise.all([produceModel(modelEntries), ...runtimeLayers]);
  if (!modelLayer) throw new Error('model layer missing');
  opts.logger.info(
    `Built ${runtimes.length + 1} layers (${reused} reused from earlier images, verified: ${(reuseFetched / 1e6).toFixed(1)} MB read) in ${((Date.now() - t0) / 1000).toFixed(1)} s (model ${(modelLayer.size / 1e6).toFixed(1)} MB compressed)`,
  );

  const blobs = new Map<string, BlobRecord>();
  const addLocal = (digest: string, size: number, mediaType: string): void => {
    blobs.set(digest, { digest, size, mediaType, location: { kind: 'file', path: store.path(digest) } });
  };
  const platforms: BuiltPlatform[] = [];
  for (const [i, bp] of selected.entries()) {
    const runtime = runtimes[i] as ProducedLayer;
    platforms.push(await assemblePlatform(bp, runtime, modelLayer));
  }

  async function assemblePlatform(
    bp: BasePlatform,
    runtime: ProducedLayer,
    model: ProducedLayer,
  ): Promise<BuiltPlatform> {
    const cfg = assembleConfig(
      bp.config,
      [
        { diffId: runtime.diffId, createdBy: `COPY server runtime (${bp.key}) ${SERVER_PATH}` },
        {
          diffId: model.diffId,
          createdBy: `COPY model ${opts.modelName}:${opts.modelVersion} ${MODEL_PATH}`,
        },
      ],
      { created, env, port: opts.port, labels },
    );
    const configBytes = json(cfg);
    const config = await store.putBuffer(configBytes);
    addLocal(config.digest, config.size, types.config);
    for (const l of bp.manifest.layers) {
      if (!blobs.has(l.digest))
        blobs.set(l.digest, {
          digest: l.digest,
          size: l.size,
          mediaType: l.mediaType,
          location: baseBlobLocation(base, l.digest),
        });
    }
    for (const l of [runtime, model])
      blobs.set(l.digest, { digest: l.digest, size: l.size, mediaType: l.mediaType, location: l.location });
    const layers: Descriptor[] = [
      ...bp.manifest.layers,
      { mediaType: runtime.mediaType, digest: runtime.digest, size: runtime.size },
      { mediaType: model.mediaType, digest: model.digest, size: model.size },
    ];
    const manifest = {
      schemaVersion: 2,
      mediaType: types.manifest,
      config: { mediaType: types.config, digest: config.digest, size: config.size },
      layers,
      ...(base.family === 'oci' && { annotations: sortedRecord(labels) }),
    };
    const manifestBytes = json(manifest);
    const m = await store.putBuffer(manifestBytes);
    return {
      platform: bp.key,
      digest: m.digest,
      mediaType: types.manifest,
      manifest: manifestBytes,
      configDigest: config.digest,
      config: configBytes,
      layers,
      diffIds: (cfg['rootfs'] as { diff_ids: string[] }).diff_ids,
      size: manifestBytes.length + config.size + layers.reduce((a, l) => a + l.size, 0),
    };
  }

  let top: { bytes: Buffer; mediaType: string; digest: string };
  const first = platforms[0];
  if (platforms.length === 1 && first) {
    top = { bytes: first.manifest, mediaType: first.mediaType, digest: first.digest };
  } else {
    const index = {
      schemaVersion: 2,
      mediaType: types.index,
      manifests: platforms.map((p, i) => {
        const bp = selected[i] as BasePlatform;
        const platform: Platform = {
          architecture: bp.platform.architecture,
          os: bp.platform.os,
          ...(bp.platform.variant && { variant: bp.platform.variant }),
        };
        return { mediaType: p.mediaType, digest: p.digest, size: p.manifest.length, platform };
      }),
      ...(base.family === 'oci' && { annotations: sortedRecord(labels) }),
    };
    const bytes = json(index);
    const d = await store.putBuffer(bytes);
    top = { bytes, mediaType: types.index, digest: d.digest };
  }
  await writeLayoutIndex(opts.workDir, top);
  const baseInfo =
    base.location.kind === 'registry'
      ? {
          name: base.name,
          digest: base.digest,
          registry: base.location.ref.registry,
          repository: base.location.ref.repository,
          client: base.location.client,
        }
      : { name: base.name, digest: base.digest };
  return {
    digest: top.digest,
    mediaType: top.mediaType,
    bytes: top.bytes,
    family: base.family,
    platforms,
    blobs,
    base: baseInfo,
    labels,
    store,
    workDir: opts.workDir,
  };
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
