/**
 * OCI and Docker v2 image formats: media types, descriptors, manifests, indexes, platforms.
 * Manifests read from registries or layouts are validated with zod; unknown fields are preserved.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Both families' gzip layer types (what a layer of ours is, in one or the other). */
export const GZIP_LAYER_TYPES = [MediaType.ociLayerGzip, MediaType.dockerLayerGzip];

/** `Accept` for manifest reads: all four manifest and index types. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
].join(', ');

export type Family = 'oci' | 'docker';

export function isIndexType(mt: string | undefined): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
}

export function isManifestType(mt: string | undefined): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

/** The media types an image of one family uses, so a manifest never mixes OCI and Docker types. */
export function familyTypes(family: Family): {
  manifest: string;
  index: string;
  config: string;
  layer: string;
} {
  return family === 'oci'
    ? {
        manifest: MediaType.ociManifest,
        index: MediaType.ociIndex,
        config: MediaType.ociConfig,
        layer: MediaType.ociLayerGzip,
      }
    : {
        manifest: MediaType.dockerManifest,
        index: MediaType.dockerManifestList,
        config: MediaType.dockerConfig,
        layer: MediaType.dockerLayerGzip,
      };
}

const platformSchema = z.looseObject({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
});

const descriptorSchema = z.looseObject({
  mediaType: z.string(),
  digest: z.string().regex(/^sha256:[a-f0-9]{64}$/),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).optional(),
  platform: platformSchema.optional(),
  urls: z.array(z.string()).optional(),
});

const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  annotations: z.record(z.string(), z.string()).optional(),
});

export type Platform = z.infer<typeof platformSchema>;
export type Descriptor = z.infer<typeof descriptorSchema>;
export type Manifest = z.infer<typeof manifestSchema>;
export type ImageIndex = z.infer<typeof indexSchema>;

export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: Manifest }
  | { kind: 'index'; mediaType: string; index: ImageIndex };

/** Parses manifest or index bytes; `contentType` (a registry's header) wins over the body's mediaType. */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new UserError(
      `${what} is not valid JSON.`,
      'Check that the reference points at a container image.',
    );
  }
  const bodyType = (json as { mediaType?: unknown }).mediaType;
  const header = contentType?.split(';')[0]?.trim();
  let mt =
    typeof bodyType === 'string' ? bodyType : header && header !== 'application/json' ? header : undefined;
  if (!mt)
    mt = Array.isArray((json as { manifests?: unknown }).manifests)
      ? MediaType.ociIndex
      : MediaType.ociManifest;
  const fail = (e: z.ZodError): UserError =>
    new UserError(
      `${what} is not a valid image manifest (${mt}): ${e.issues[0]?.message ?? 'invalid'} at ${e.issues[0]?.path.join('.') ?? ''}.`,
      'Use an OCI or Docker v2 image as the base (schema 1 images are not supported).',
    );
  if (isIndexType(mt)) {
    const r = indexSchema.safeParse(json);
    if (!r.success) throw fail(r.error);
    return { kind: 'index', mediaType: mt, index: r.data };
  }
  if (isManifestType(mt)) {
    const r = manifestSchema.safeParse(json);
    if (!r.success) throw fail(r.error);
    return { kind: 'manifest', mediaType: mt, manifest: r.data };
  }
  throw new UserError(
    `${what} has media type '${mt}', which is not an image manifest or index.`,
    'Use an OCI or Docker v2 image as the base.',
  );
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** Parses `linux/amd64`, `linux/arm64/v8`; arm64's default variant v8 compares equal to none. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new UserError(
      `Invalid platform '${s}'.`,
      "Write platforms as os/arch[/variant], comma separated, e.g. 'linux/amd64,linux/arm64'.",
    );
  }
  const [os = '', architecture = '', variant] = parts;
  return { os, architecture, ...(variant && { variant }) };
}

export function samePlatform(a: Platform, b: Platform): boolean {
  const v = (p: Platform): string | undefined =>
    p.architecture === 'arm64' && p.variant === 'v8' ? undefined : p.variant;
  return a.os === b.os && a.architecture === b.architecture && v(a) === v(b);
}

/** Canonical platform string used as a key (`linux/arm64`, never `linux/arm64/v8`). */
export function platformKey(p: Platform | string): string {
  const q = typeof p === 'string' ? parsePlatform(p) : p;
  const variant = q.architecture === 'arm64' && q.variant === 'v8' ? undefined : q.variant;
  return `${q.os}/${q.architecture}${variant ? `/${variant}` : ''}`;
}
