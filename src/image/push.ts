/**
 * Pushes a built image: blobs first (HEAD-skip, cross-repo mount from the base's repository when it
 * lives on the same registry, else upload), then each platform's manifest by digest, then the index by
 * digest, and the tags last, so a failure never leaves a tag pointing at a half-pushed image.
 */
import { mapConcurrent } from '../util/concurrency.js';
import { UserError, isUserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { formatBytes } from '../util/progress.js';
import type { RetryOptions } from '../util/retry.js';
import type { RegistryCredentials } from './auth.js';
import type { BlobRecord, BuiltImage } from './assemble.js';
import { materializeBlob } from './materialize.js';
import { assertValidTag, formatReference, type ImageReference } from './reference.js';
import { RegistryClient, lazyBlobSource } from './registry.js';

export interface PushOptions {
  credentials?: RegistryCredentials;
  insecureRegistries?: string[];
  logger: Logger;
  fetch?: typeof fetch;
  retry?: RetryOptions;
  monolithicLimit?: number;
  chunkSize?: number;
  /** Blobs uploaded at once (default 3). */
  concurrency?: number;
  /** Time between upload progress lines (default 5 s). */
  progressIntervalMs?: number;
}

export interface PushResult {
  /** `registry/repository@digest` of what was pushed. */
  image: string;
  digest: string;
  platformDigests: Record<string, string>;
  /** Tags written, in order. */
  tags: string[];
  bytesUploaded: number;
  blobsUploaded: number;
  /** Blobs the registry already had (HEAD). */
  blobsSkipped: number;
  blobsMounted: number;
}

export async function pushImage(
  img: BuiltImage,
  target: ImageReference,
  tags: string[],
  opts: PushOptions,
): Promise<PushResult> {
  for (const t of tags) assertValidTag(t);
  const abort = new AbortController();
  const client = new RegistryClient({
    signal: abort.signal,
    registry: target.registry,
    ...(opts.credentials && { credentials: opts.credentials }),
    ...(opts.insecureRegistries && { insecureRegistries: opts.insecureRegistries }),
    ...(opts.fetch && { fetch: opts.fetch }),
    ...(opts.retry && { retry: opts.retry }),
    ...(opts.monolithicLimit !== undefined && { monolithicLimit: opts.monolithicLimit }),
    ...(opts.chunkSize !== undefined && { chunkSize: opts.chunkSize }),
    logger: opts.logger,
  });
  const repo = target.repository;
  // Blobs still in a repository of the same registry (the base's, or an earlier image's) are mounted.
  const mountFrom = (b: BlobRecord): string | undefined =>
    b.location.kind === 'registry' &&
    b.location.client.registry.toLowerCase() === target.registry.toLowerCase() &&
    b.location.repository !== repo
      ? b.location.repository
      : undefined;
  const result: PushResult = {
    image: `${target.registry}/${repo}@${img.digest}`,
    digest: img.digest,
    platformDigests: Object.fromEntries(img.platforms.map((p) => [p.platform, p.digest])),
    tags: [],
    bytesUploaded: 0,
    blobsUploaded: 0,
    blobsSkipped: 0,
    blobsMounted: 0,
  };
  const blobs: BlobRecord[] = [...img.blobs.values()];
  // Layers (largest first, so the long uploads start early), then configs, in one queue: all blobs
  // before manifests.
  const configs = new Set(img.platforms.map((p) => p.configDigest));
  const layers = blobs.filter((b) => !configs.has(b.digest)).sort((a, b) => b.size - a.size);
  const queue = [...layers, ...blobs.filter((b) => configs.has(b.digest))];
  const pushOne = async (b: BlobRecord): Promise<void> => {
    // Base layers still in a registry are fetched only if the target needs their bytes.
    const source = lazyBlobSource(() => materializeBlob(img, b), b.digest, b.size);
    const outcome = await client.pushBlob(repo, source, mountFrom(b));
    if (outcome === 'exists') result.blobsSkipped++;
    else if (outcome === 'mounted') result.blobsMounted++;
    else {
      result.blobsUploaded++;
      opts.logger.info(`Uploaded ${b.digest.slice(7, 19)} (${(b.size / 1e6).toFixed(1)} MB)`);
    }
  };
  const before = client.stats.bytesUploaded;
  // A line every few seconds while large layers upload (chunk by chunk), so long pushes show progress.
  const started = Date.now();
  const ticker = setInterval(() => {
    const sent = client.stats.bytesUploaded - before;
    const seconds = (Date.now() - started) / 1000;
    opts.logger.info(
      `Uploading to ${target.registry}/${repo}: ${formatBytes(sent)} sent, ${formatBytes(sent / seconds)}/s; ` +
        `${result.blobsUploaded} uploaded, ${result.blobsSkipped + result.blobsMounted} already there of ${blobs.length} blobs`,
    );
  }, opts.progressIntervalMs ?? 5000);
  try {
    await mapConcurrent(queue, opts.concurrency ?? 3, pushOne, { abort });
  } finally {
    clearInterval(ticker);
  }
  // The platforms' manifests side by side (the index that lists them only after every one is in).
  await Promise.all(img.platforms.map((p) => client.putManifest(repo, p.digest, p.manifest, p.mediaType)));
  if (img.platforms.length > 1 || img.platforms[0]?.digest !== img.digest) {
    await client.putManifest(repo, img.digest, img.bytes, img.mediaType);
  }
  // Tags move one PUT at a time (the distribution API has no transaction): each is logged as it moves,
  // and a failure names the ones that already point at the new image.
  for (const t of tags) {
    try {
      await client.putManifest(repo, t, img.bytes, img.mediaType);
    } catch (e) {
      throw tagError(`${target.registry}/${repo}`, img.digest, t, result.tags, tags, e);
    }
    result.tags.push(t);
    opts.logger.info(`Moved tag ${target.registry}/${repo}:${t} to ${img.digest}`);
  }
  result.bytesUploaded = client.stats.bytesUploaded - before;
  opts.logger.info(
    `Pushed ${formatReference({ ...target, digest: img.digest })}: ${result.blobsUploaded} blobs uploaded, ${result.blobsMounted} mounted, ${result.blobsSkipped} already present; tags ${tags.join(', ') || '(none)'}`,
  );
  return result;
}

/**
 * A tag PUT failed after the image itself was pushed: says which tags already moved to the new digest
 * and which did not, keeping the cause's own fix when it has one.
 */
export function tagError(
  repository: string,
  digest: string,
  failed: string,
  moved: string[],
  tags: string[],
  cause: unknown,
): UserError {
  const why = isUserError(cause) ? cause.message : cause instanceof Error ? cause.message : String(cause);
  const left = tags.slice(tags.indexOf(failed));
  const list = (ts: string[]): string => ts.map((t) => `'${t}'`).join(', ');
  return new UserError(
    `Pushed ${repository}@${digest}, but moving tag '${failed}' failed: ${why}. ` +
      (moved.length > 0
        ? `Tag(s) ${list(moved)} already point at the new image; ${list(left)} still point where they did.`
        : `No tag was moved: ${list(left)} still point where they did.`),
    isUserError(cause)
      ? cause.fix
      : 'Re-run the job: the push is idempotent and moves the remaining tags (or move them by hand, e.g. `skopeo copy` of the digest).',
    { cause },
  );
}
