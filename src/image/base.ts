/**
 * Loads the base image: from a registry reference, or offline from an OCI image layout directory
 * (`oci-layout:PATH`) or an OCI archive (`oci-archive:PATH`, extracted into the work dir). Only
 * manifests and configs are read up front; base layers are referenced where they live and fetched
 * (digest-verified) only if an output needs their bytes.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { RegistryCredentials } from './auth.js';
import { BlobStore, DigestMismatchError, sha256 } from './blobs.js';
import {
  MediaType,
  formatPlatform,
  isIndexType,
  parseManifest,
  platformKey,
  type Descriptor,
  type Family,
  type Manifest,
  type ParsedManifest,
  type Platform,
} from './oci.js';
import { formatReference, parseImageReference, type ImageReference } from './reference.js';
import { RegistryClient, RegistryHttpError } from './registry.js';

/** Where a blob's bytes are: a local file, or a registry repository to fetch from on demand. */
export type BlobLocation =
  { kind: 'file'; path: string } | { kind: 'registry'; client: RegistryClient; repository: string };

export interface BasePlatform {
  platform: Platform;
  key: string;
  manifestDigest: string;
  manifestMediaType: string;
  manifest: Manifest;
  config: Record<string, unknown>;
}

export interface BaseImage {
  /** What the user named (label org.opencontainers.image.base.name). */
  name: string;
  /** Digest of the index or manifest the name resolved to (label base.digest). */
  digest: string;
  family: Family;
  platforms: BasePlatform[];
  /** Where the base's blobs live. */
  location:
    { kind: 'layout'; store: BlobStore } | { kind: 'registry'; client: RegistryClient; ref: ImageReference };
}

export interface LoadBaseOptions {
  logger: Logger;
  workDir: string;
  /** Push credentials and host: reused for the base when it lives on the same registry host. */
  pushRegistry?: string;
  registryAuth?: RegistryCredentials;
  baseAuth?: RegistryCredentials;
  insecureRegistries?: string[];
  fetch?: typeof fetch;
  clientFor?: (registry: string, creds: RegistryCredentials | undefined) => RegistryClient;
}

function familyOf(mediaType: string): Family {
  return mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList
    ? 'docker'
    : 'oci';
}

function configPlatform(config: Record<string, unknown>): Platform {
  const os = typeof config['os'] === 'string' ? config['os'] : 'linux';
  const architecture = typeof config['architecture'] === 'string' ? config['architecture'] : 'amd64';
  const variant = typeof config['variant'] === 'string' ? config['variant'] : undefined;
  return { os, architecture, ...(variant && { variant }) };
}

interface Reader {
  manifest(digest: string, mediaType?: string): Promise<{ bytes: Buffer; mediaType: string | undefined }>;
  blob(digest: string): Promise<Buffer>;
}

async function resolvePlatforms(
  top: ParsedManifest,
  topDigest: string,
  reader: Reader,
  what: string,
): Promise<BasePlatform[]> {
  const load = async (
    desc: { digest: string; mediaType: string },
    parsed?: ParsedManifest,
  ): Promise<BasePlatform | undefined> => {
    const p =
      parsed ??
      parseManifest(
        (await reader.manifest(desc.digest)).bytes,
        desc.mediaType,
        `${what} manifest ${desc.digest}`,
      );
    if (p.kind !== 'manifest') return undefined;
    const config = JSON.parse((await reader.blob(p.manifest.config.digest)).toString('utf8')) as Record<
      string,
      unknown
    >;
    const platform = configPlatform(config);
    return {
      platform,
      key: platformKey(platform),
      manifestDigest: desc.digest,
      manifestMediaType: p.mediaType,
      manifest: p.manifest,
      config,
    };
  };
  if (top.kind === 'manifest') {
    const one = await load({ digest: topDigest, mediaType: top.mediaType }, top);
    return one ? [one] : [];
  }
  const out: BasePlatform[] = [];
  for (const d of top.index.manifests) {
    // Skip attestation manifests (buildx: platform unknown/unknown) and anything not an image.
    if (
      d.platform?.os === 'unknown' ||
      d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
    )
      continue;
    if (isIndexType(d.mediaType)) continue;
    const bp = await load(d);
    if (bp) out.push(d.platform ? { ...bp, platform: d.platform, key: platformKey(d.platform) } : bp);
  }
  return out;
}

async function loadLayout(dir: string, name: string, opts: LoadBaseOptions): Promise<BaseImage> {
  const store = new BlobStore(dir);
  let indexBytes: Buffer;
  try {
    indexBytes = await readFile(join(dir, 'index.json'));
  } catch {
    throw new UserError(
      `Base image ${name}: ${join(dir, 'index.json')} not found.`,
      'Point base-image at an OCI image layout directory (oci-layout:PATH) or archive (oci-archive:PATH).',
    );
  }
  const reader: Reader = {
    manifest: async (digest) => ({ bytes: await readVerified(store, digest, name), mediaType: undefined }),
    blob: (digest) => readVerified(store, digest, name),
  };
  const parsed = parseManifest(indexBytes, MediaType.ociIndex, `${name} index.json`);
  if (parsed.kind !== 'index')
    throw new UserError(`${name}: index.json is not an image index.`, 'Use a valid OCI image layout.');
  const entries = parsed.index.manifests;
  let top: ParsedManifest = parsed;
  let topDigest = sha256(indexBytes);
  if (entries.length === 1 && entries[0]) {
    const only: Descriptor = entries[0];
    top = parseManifest((await reader.manifest(only.digest)).bytes, only.mediaType, `${name} ${only.digest}`);
    topDigest = only.digest;
  }
  const platforms = await resolvePlatforms(top, topDigest, reader, name);
  const mt = top.kind === 'index' ? (platforms[0]?.manifestMediaType ?? top.mediaType) : top.mediaType;
  opts.logger.debug(`Base ${name}: ${platforms.map((p) => p.key).join(', ')}`);
  return { name, digest: topDigest, family: familyOf(mt), platforms, location: { kind: 'layout', store } };
}

async function readVerified(store: BlobStore, digest: string, what: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(store.path(digest));
  } catch {
    throw new UserError(
      `Base image ${what} is missing blob ${digest}.`,
      'Re-create the OCI layout (e.g. skopeo copy ... oci:DIR).',
    );
  }
  const got = sha256(bytes);
  if (got !== digest) throw new DigestMismatchError(`${what} blob`, digest, got);
  return bytes;
}

/** Extracts an OCI archive (a tar of a layout) into `dest`. */
async function extractArchive(archive: string, dest: string): Promise<void> {
  const extract = tar.extract();
  const writing = (async () => {
    for await (const entry of extract) {
      const name = posix.normalize(entry.header.name).replace(/^\.\//, '');
      if (entry.header.type === 'file' && !name.startsWith('..') && !posix.isAbsolute(name)) {
        const out = resolve(dest, name);
        await mkdir(dirname(out), { recursive: true });
        await pipeline(entry, createWriteStream(out));
      } else entry.resume();
    }
  })();
  await Promise.all([pipeline(createReadStream(archive), extract), writing]).catch((e: unknown) => {
    throw new UserError(
      `Base image oci-archive:${archive} could not be read: ${e instanceof Error ? e.message : String(e)}.`,
      'Point base-image at a valid OCI archive (skopeo copy ... oci-archive:PATH).',
    );
  });
}

async function loadRegistry(refText: string, opts: LoadBaseOptions): Promise<BaseImage> {
  const ref = parseImageReference(refText);
  const sameHost = opts.pushRegistry !== undefined && opts.pushRegistry.toLowerCase() === ref.registry;
  const creds = opts.baseAuth ?? (sameHost ? opts.registryAuth : undefined);
  const client =
    opts.clientFor?.(ref.registry, creds) ??
    new RegistryClient({
      registry: ref.registry,
      ...(creds && { credentials: creds }),
      ...(opts.insecureRegistries && { insecureRegistries: opts.insecureRegistries }),
      ...(opts.fetch && { fetch: opts.fetch }),
      logger: opts.logger,
    });
  const name = formatReference(ref);
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const reader: Reader = {
    manifest: (digest) => client.getManifest(ref.repository, digest),
    blob: (digest) => client.readBlob(ref.repository, digest),
  };
  try {
    const top = await client.getManifest(ref.repository, reference);
    const parsed = parseManifest(top.bytes, top.mediaType, `Base image ${name}`);
    const platforms = await resolvePlatforms(parsed, top.digest, reader, name);
    const mt =
      parsed.kind === 'index' ? (platforms[0]?.manifestMediaType ?? parsed.mediaType) : parsed.mediaType;
    opts.logger.info(`Base image ${name}@${top.digest}: ${platforms.map((p) => p.key).join(', ')}`);
    return {
      name: ref.digest ? name : `${ref.registry}/${ref.repository}:${reference}`,
      digest: top.digest,
      family: familyOf(mt),
      platforms,
      location: { kind: 'registry', client, ref },
    };
  } catch (e) {
    if (e instanceof RegistryHttpError && e.status === 404) {
      throw new UserError(
        `Base image ${name} not found on ${ref.registry} (${e.message}).`,
        'Check base-image: the repository, tag or digest must exist (and be readable with the given credentials).',
      );
    }
    throw e;
  }
}

/** Loads `base`: `oci-layout:PATH`, `oci-archive:PATH`, or a registry reference. */
export async function loadBase(base: string, opts: LoadBaseOptions): Promise<BaseImage> {
  if (base.startsWith('oci-layout:')) {
    const dir = resolve(base.slice('oci-layout:'.length));
    return loadLayout(dir, base, opts);
  }
  if (base.startsWith('oci-archive:')) {
    const dest = join(opts.workDir, 'base-layout');
    await mkdir(dest, { recursive: true });
    await extractArchive(resolve(base.slice('oci-archive:'.length)), dest);
    return loadLayout(dest, base, opts);
  }
  return loadRegistry(base, opts);
}

/** The base platform matching each requested one; a missing one is the named error. */
export function selectPlatforms(base: BaseImage, requested: string[]): BasePlatform[] {
  return requested.map((r) => {
    const key = platformKey(r);
    const found = base.platforms.find((p) => p.key === key);
    if (!found) {
      const has = base.platforms.map((p) => formatPlatform(p.platform)).join(', ') || 'none';
      throw new UserError(
        `The base image ${base.name} has no ${key} image; it has: ${has}.`,
        `Set platforms to ones the base provides (${has}), or use a multi-arch base image.`,
      );
    }
    return found;
  });
}
