/**
 * OCI 1.1 referrers: an artifact (an SBOM, a signature) attached to an image by a manifest whose
 * `subject` is the image's descriptor, as the image spec's artifact guidance and the distribution
 * spec's "Pushing Manifests with Subject" describe:
 *
 *   - the artifact manifest: an image manifest with `artifactType`, the empty config
 *     (`application/vnd.oci.empty.v1+json`, `{}`), one layer holding the content, and `subject`;
 *   - pushed by digest after its blobs; a registry with the referrers API answers the PUT with an
 *     `OCI-Subject` header and indexes it itself (`GET /v2/<name>/referrers/<digest>`);
 *   - otherwise (the header is absent) the client maintains the referrers tag `<alg>-<hex>`: pulls the
 *     image index under it (404: start empty; anything but an index: stop), adds the manifest's
 *     descriptor with its artifactType and annotations unless already there, and pushes it back.
 *
 * Written by hand for the same reasons as the registry client (src/image/registry.ts): it uses that
 * client's auth, retries and errors.
 */
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { sha256 } from './blobs.js';
import { MediaType, isIndexType, parseManifest, type Descriptor, type ImageIndex } from './oci.js';
import { RegistryHttpError, bufferBlobSource, type RegistryClient } from './registry.js';

export const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY = Buffer.from('{}');

export interface ReferrerArtifact {
  /** The artifact manifest's bytes, digest and descriptor (as it appears in a referrers index). */
  manifest: Buffer;
  digest: string;
  descriptor: Descriptor & { artifactType: string };
  /** The blobs the manifest references (the empty config and the content). */
  blobs: Buffer[];
}

export interface ArtifactSpec {
  subject: { mediaType: string; digest: string; size: number };
  artifactType: string;
  content: Buffer;
  /** File name for `oras pull` (`org.opencontainers.image.title`). */
  title: string;
  /** RFC 3339 `org.opencontainers.image.created` (pass a reproducible time). */
  created: string;
}

/** Builds an artifact manifest that refers to `subject`; deterministic for the same spec. */
export function referrerArtifact(spec: ArtifactSpec): ReferrerArtifact {
  const annotations = { 'org.opencontainers.image.created': spec.created };
  const doc = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: spec.artifactType,
    config: { mediaType: EMPTY_MEDIA_TYPE, digest: sha256(EMPTY), size: EMPTY.length, data: 'e30=' },
    layers: [
      {
        mediaType: spec.artifactType,
        digest: sha256(spec.content),
        size: spec.content.length,
        annotations: { 'org.opencontainers.image.title': spec.title },
      },
    ],
    subject: { mediaType: spec.subject.mediaType, digest: spec.subject.digest, size: spec.subject.size },
    annotations,
  };
  const manifest = Buffer.from(JSON.stringify(doc));
  const digest = sha256(manifest);
  return {
    manifest,
    digest,
    descriptor: {
      mediaType: MediaType.ociManifest,
      digest,
      size: manifest.length,
      artifactType: spec.artifactType,
      annotations,
    },
    blobs: [EMPTY, spec.content],
  };
}

/** The referrers tag schema: `<alg>-<encoded>`, truncated to 32 and 64 characters, invalid ones `-`. */
export function referrersTag(digest: string): string {
  const i = digest.indexOf(':');
  const clean = (s: string): string => s.replace(/[^a-zA-Z0-9_.-]/g, '-');
  return `${clean(digest.slice(0, i).slice(0, 32))}-${clean(digest.slice(i + 1).slice(0, 64))}`;
}

/** Pushes `artifact` next to its subject; returns how the registry learned of the reference. */
export async function pushReferrer(
  client: RegistryClient,
  repository: string,
  artifact: ReferrerArtifact,
  logger: Logger,
): Promise<'referrers-api' | 'referrers-tag'> {
  for (const blob of artifact.blobs) await client.pushBlob(repository, bufferBlobSource(blob));
  const subject = (JSON.parse(artifact.manifest.toString('utf8')) as { subject: Descriptor }).subject;
  let indexed = false;
  await client.putManifest(repository, artifact.digest, artifact.manifest, MediaType.ociManifest, (h) => {
    indexed = h.get('oci-subject') === subject.digest;
  });
  if (indexed) {
    logger.info(`Attached ${artifact.digest} to ${subject.digest} (the registry indexes referrers)`);
    return 'referrers-api';
  }
  const tag = referrersTag(subject.digest);
  const index = await readReferrersTag(client, repository, tag);
  if (index.manifests.some((d) => d.digest === artifact.digest)) {
    logger.info(`${artifact.digest} is already listed under the referrers tag ${tag}`);
    return 'referrers-tag';
  }
  index.manifests.push(artifact.descriptor);
  await client.putManifest(repository, tag, Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
  logger.info(`Attached ${artifact.digest} to ${subject.digest} through the referrers tag ${tag}`);
  return 'referrers-tag';
}

/** The image index under the referrers tag; an empty one when the tag does not exist. */
async function readReferrersTag(
  client: RegistryClient,
  repository: string,
  tag: string,
): Promise<ImageIndex> {
  let got: Awaited<ReturnType<RegistryClient['getManifest']>>;
  try {
    got = await client.getManifest(repository, tag);
  } catch (e) {
    if (e instanceof RegistryHttpError && e.status === 404)
      return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    throw e;
  }
  let parsed: ReturnType<typeof parseManifest> | undefined;
  try {
    parsed = parseManifest(got.bytes, got.mediaType, `The referrers tag ${repository}:${tag}`);
  } catch {
    parsed = undefined;
  }
  if (parsed?.kind !== 'index' || !isIndexType(parsed.mediaType)) {
    throw new UserError(
      `The tag ${repository}:${tag}, which the OCI referrers tag schema reserves for the list of artifacts that refer to an image, holds a ${got.mediaType ?? 'document'} that is not an image index; the artifact was not listed there.`,
      `Delete or rename that tag (it is not an image anyone should pull), then re-run; or set sbom: false.`,
    );
  }
  return parsed.index;
}
