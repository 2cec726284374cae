/**
 * Downloads a model's blobs with @azure/storage-blob: the one blob named exactly like the prefix, or
 * every blob under `prefix/` (skipping ADLS `hdi_isfolder` directory markers), streamed to disk under
 * their relative paths with bounded concurrency. Large blobs are fetched as parallel ranges written in
 * place; every stream resumes after a connection reset from the byte it reached (the SDK's retriable
 * stream, pinned to the blob's ETag), and each request is retried on 408/429/5xx honouring Retry-After.
 * Nothing is ever held whole in memory.
 */
import type { TokenCredential } from '@azure/identity';
import {
  AnonymousCredential,
  ContainerClient,
  RestError,
  StorageSharedKeyCredential,
  type BlobClient,
  type StoragePipelineOptions,
} from '@azure/storage-blob';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import {
  RetryableError,
  isRetryableStatus,
  parseRetryAfter,
  withRetry,
  type RetryOptions,
} from '../util/retry.js';
import type { BlobAccess } from './azureml.js';
import { mapConcurrent } from '../util/concurrency.js';
import type { ExpectedFile } from './integrity.js';
import type { Progress } from '../util/progress.js';
import { PartialWrite, writeAt } from './write-at.js';

export interface BlobItem {
  /** Full blob name. */
  name: string;
  /** Relative path under the destination directory. */
  path: string;
  size: number;
  etag?: string;
  contentMd5?: Uint8Array;
}

export interface BlobDownloadOptions {
  destDir: string;
  logger: Logger;
  retry?: RetryOptions;
  /** Called once the listing is known, to report progress. */
  progress?: (totalBytes: number, files: number) => Progress;
  /** Files in flight. Default 4. */
  fileConcurrency?: number;
  /** Blobs at least this big are fetched as parallel ranges. Default 32 MiB. */
  rangeThreshold?: number;
  /** Default 8 MiB. */
  rangeSize?: number;
  /** Ranges in flight per large blob. Default 4. */
  rangeConcurrency?: number;
  /** Resumes of one stream after connection resets. Default 5. */
  maxResumes?: number;
}

/** A ContainerClient for the access the model resolved to. SDK retries are off: withRetry does them. */
export function containerClientFor(
  access: BlobAccess,
  credential: TokenCredential | undefined,
  pipelineOptions: StoragePipelineOptions = {},
): ContainerClient {
  const options: StoragePipelineOptions = {
    retryOptions: { maxTries: 1 },
    ...pipelineOptions,
  };
  switch (access.auth.kind) {
    case 'key':
      return new ContainerClient(
        access.containerUrl,
        new StorageSharedKeyCredential(access.auth.accountName, access.auth.accountKey),
        options,
      );
    case 'sas':
      return new ContainerClient(
        `${access.containerUrl}?${access.auth.sas}`,
        new AnonymousCredential(),
        options,
      );
    case 'identity':
      if (!credential) throw new Error('identity-based blob access needs a token credential');
      if (!access.containerUrl.startsWith('https://')) {
        throw new UserError(
          `Identity-based access to ${access.containerUrl} needs https.`,
          'Set azure-blob-endpoint to an https:// template.',
        );
      }
      return new ContainerClient(access.containerUrl, credential, options);
  }
}

/** Explains a storage failure by status and the kind of credential in use. */
export function explainStorageError(e: unknown, access: BlobAccess, what: string): unknown {
  if (e instanceof UserError) return e;
  if (!(e instanceof RestError) || e.statusCode === undefined) {
    // Retries spent on connection failures (or a short body): the network or the service.
    const detail = e instanceof Error ? e.message : String(e);
    return new UserError(
      `${what} failed: ${detail.split('\n')[0]!.slice(0, 300)}`,
      `Re-run the job; if it persists, check that ${access.containerUrl} is reachable from the runner.`,
      { cause: e },
    );
  }
  const code = e.code ?? (e.response?.headers.get('x-ms-error-code') || 'Unknown');
  const line = `${what} failed: storage ${e.statusCode} ${code}: ${e.message.split('\n')[0]!.slice(0, 200)}`;
  if (e.statusCode === 403 || e.statusCode === 401) {
    const fix =
      access.auth.kind === 'identity'
        ? `grant the Azure login the 'Storage Blob Data Reader' role on the storage account of ${access.containerUrl} ` +
          "(identity-based datastores read with the caller's own identity)."
        : access.auth.kind === 'key'
          ? `the account key of ${access.via} was rejected: update the datastore credentials (az ml datastore update) after a key rotation.`
          : `the SAS of ${access.via} was rejected (expired or missing read/list permission): renew it.`;
    return new UserError(line, fix, { cause: e });
  }
  if (e.statusCode === 412) {
    return new UserError(line, 'The model files changed during the download: re-run the job.', { cause: e });
  }
  if (e.statusCode === 404) {
    return new UserError(
      line,
      `Check that the container ${access.containerUrl} exists and holds the model's files.`,
      {
        cause: e,
      },
    );
  }
  return new UserError(line, 'Re-run the job; if it persists, check the storage account.', { cause: e });
}

/** Storage failures worth another attempt: 408/429/5xx and connection failures. */
function retryable(e: unknown): unknown {
  if (e instanceof RetryableError) return e;
  if (e instanceof RestError) {
    if (e.statusCode !== undefined && isRetryableStatus(e.statusCode)) {
      return new RetryableError(
        `storage returned ${e.statusCode} ${e.code ?? ''}`.trim(),
        parseRetryAfter(e.response?.headers.get('retry-after')),
        { cause: e },
      );
    }
    if (
      e.statusCode === undefined &&
      (e.code === 'REQUEST_SEND_ERROR' || /ECONNRESET|socket hang up/i.test(e.message))
    ) {
      return new RetryableError(`storage connection failed: ${e.message}`, undefined, { cause: e });
    }
  }
  // A connection cut mid-body: the SDK's stream gives up with AbortError (no abort signal of ours
  // exists) or reports the short read; the next attempt resumes from the bytes on disk.
  if (
    e instanceof Error &&
    (e.name === 'AbortError' ||
      /^Data corruption failure: received less data/.test(e.message) ||
      /aborted|ECONNRESET|socket hang up/i.test(e.message))
  ) {
    return new RetryableError(`connection lost mid-blob: ${e.message}`, undefined, { cause: e });
  }
  return e;
}

/** Rejects blob names that would escape the destination (.., empty or absolute segments). */
function safeRelative(name: string, prefix: string): string {
  const rel = name.slice(prefix.length).replace(/^\//, '');
  const segs = rel.split('/');
  if (!rel || segs.some((s) => s === '' || s === '.' || s === '..' || s.includes('\\'))) {
    throw new UserError(
      `The blob '${name}' cannot be saved safely (its path has empty, '.', '..' or '\\' segments).`,
      'Rename the blob in the model folder.',
    );
  }
  return rel;
}

function isFolderMarker(metadata: Record<string, string> | undefined): boolean {
  return Object.entries(metadata ?? {}).some(([k, v]) => k.toLowerCase() === 'hdi_isfolder' && v === 'true');
}

/** Lists what to download: the single blob named `prefix`, else every blob under `prefix/`. */
export async function listModelBlobs(
  container: ContainerClient,
  prefix: string,
  opts: { retry?: RetryOptions; logger: Logger },
): Promise<BlobItem[]> {
  const run = <T>(fn: () => Promise<T>) =>
    withRetry(
      () =>
        fn().catch((e: unknown) => {
          throw retryable(e);
        }),
      {
        ...opts.retry,
        onRetry: (i) => opts.logger.info(`${i.reason}; retrying in ${(i.delayMs / 1000).toFixed(1)}s.`),
      },
    );
  const single = await run(async () => {
    try {
      return await container.getBlobClient(prefix).getProperties();
    } catch (e) {
      if (e instanceof RestError && e.statusCode === 404) return undefined;
      throw e;
    }
  });
  if (single && !isFolderMarker(single.metadata)) {
    const name = prefix.split('/').pop()!;
    return [
      {
        name: prefix,
        path: name,
        size: single.contentLength ?? 0,
        etag: single.etag,
        contentMd5: single.contentMD5,
      },
    ];
  }
  return run(async () => {
    const items: BlobItem[] = [];
    for await (const page of container
      .listBlobsFlat({ prefix: `${prefix}/`, includeMetadata: true })
      .byPage({ maxPageSize: 5000 })) {
      for (const b of page.segment.blobItems) {
        if (isFolderMarker(b.metadata)) continue;
        items.push({
          name: b.name,
          path: safeRelative(b.name, prefix),
          size: b.properties.contentLength ?? 0,
          etag: b.properties.etag,
          contentMd5: b.properties.contentMD5,
        });
      }
    }
    return items;
  });
}

/** One byte range of a blob and how much of it is already on disk (so a retry resumes there). */
interface RangeState {
  offset: number;
  count: number;
  written: number;
}

/**
 * Streams the rest of a range into `file` at its offset, counting progress. A connection reset ends
 * the attempt with the bytes already written kept: the next attempt asks only for the remainder.
 */
async function streamRange(
  blob: BlobClient,
  file: string,
  range: RangeState,
  etag: string | undefined,
  opts: BlobDownloadOptions,
  progress: Progress | undefined,
): Promise<void> {
  const start = range.offset + range.written;
  const count = range.count - range.written;
  if (count <= 0) return;
  let counted = 0;
  let written: number;
  try {
    const res = await blob.download(start, count, {
      maxRetryRequests: opts.maxResumes ?? 5,
      conditions: etag ? { ifMatch: etag } : undefined,
    });
    const body = res.readableStreamBody;
    if (!body) throw new Error('storage returned no body');
    written = await writeAt(body, file, start, (n) => {
      counted += n;
      progress?.add(n);
    });
  } catch (e) {
    const kept = e instanceof PartialWrite ? e.written : 0;
    // Bytes counted but not written will be fetched again.
    progress?.add(kept - counted);
    range.written += kept;
    throw e instanceof PartialWrite ? e.cause : e;
  }
  range.written += written;
  if (written < count) {
    throw new RetryableError(`connection lost mid-blob: the body ended after ${written} of ${count} bytes`);
  }
}

async function downloadOne(
  container: ContainerClient,
  item: BlobItem,
  opts: BlobDownloadOptions,
  progress: Progress | undefined,
): Promise<void> {
  const target = join(opts.destDir, ...item.path.split('/'));
  const part = `${target}.part`;
  await mkdir(dirname(target), { recursive: true });
  const handle = await open(part, 'w');
  try {
    await handle.truncate(item.size);
  } finally {
    await handle.close();
  }
  const blob = container.getBlobClient(item.name);
  const rangeSize = opts.rangeSize ?? 8 * 1024 * 1024;
  const ranges: RangeState[] =
    item.size >= (opts.rangeThreshold ?? 32 * 1024 * 1024)
      ? Array.from({ length: Math.ceil(item.size / rangeSize) }, (_, i) => ({
          offset: i * rangeSize,
          count: Math.min(rangeSize, item.size - i * rangeSize),
          written: 0,
        }))
      : item.size > 0
        ? [{ offset: 0, count: item.size, written: 0 }]
        : [];
  try {
    await mapConcurrent(ranges, opts.rangeConcurrency ?? 4, (r) =>
      withRetry(
        () =>
          streamRange(blob, part, r, item.etag, opts, progress).catch((e: unknown) => {
            throw retryable(e);
          }),
        {
          ...opts.retry,
          onRetry: (i) =>
            opts.logger.info(
              `${item.path}: ${i.reason}; ${r.written > 0 ? `resuming at byte ${r.offset + r.written}` : 'retrying'} ` +
                `in ${(i.delayMs / 1000).toFixed(1)}s.`,
            ),
        },
      ),
    );
    await rename(part, target);
  } catch (e) {
    await rm(part, { force: true });
    throw e instanceof RetryableError && e.cause ? e.cause : e;
  }
}

/**
 * Downloads everything the prefix names into `destDir`; returns what was expected (names, sizes,
 * Content-MD5) for verification.
 */
export async function downloadBlobs(
  container: ContainerClient,
  access: BlobAccess,
  opts: BlobDownloadOptions,
): Promise<ExpectedFile[]> {
  const where = `${access.containerUrl}/${access.prefix}`;
  let items: BlobItem[];
  try {
    items = await listModelBlobs(container, access.prefix, opts);
  } catch (e) {
    throw explainStorageError(
      e instanceof RetryableError && e.cause ? e.cause : e,
      access,
      `Listing ${where}`,
    );
  }
  if (items.length === 0) {
    throw new UserError(
      `No files at ${where} (via ${access.via}): the model version points at an empty path.`,
      'This happens with models registered from job outputs that were never uploaded: register the model again ' +
        'from its files (az ml model create --path <folder or file>) and use that version.',
    );
  }
  const total = items.reduce((n, i) => n + i.size, 0);
  opts.logger.info(`Downloading ${items.length} file(s), ${total} bytes, from ${where} via ${access.via}.`);
  const progress = opts.progress?.(total, items.length);
  await mkdir(opts.destDir, { recursive: true });
  try {
    await mapConcurrent(items, opts.fileConcurrency ?? 4, (item) =>
      downloadOne(container, item, opts, progress),
    );
  } catch (e) {
    throw explainStorageError(e, access, `Downloading ${where}`);
  }
  progress?.done();
  return items.map((i) => ({ path: i.path, size: i.size, contentMd5: i.contentMd5 }));
}
