/**
 * Plain https download of one model file with the global fetch: streamed to disk, resumed after a
 * connection reset with a Range request pinned by If-Range (or restarted when the server cannot
 * resume), retried on 408/429/5xx honouring Retry-After. Redirects are followed by hand, https only: a
 * Location on plain http (or any other scheme) is refused, so a model never arrives unauthenticated
 * and unencrypted. The query string of the URL and of every Location (often a SAS) is masked and never
 * printed.
 */
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { UserError } from '../errors.js';
import { httpsGet } from '../util/https-get.js';
import type { Logger } from '../util/log.js';
import { displayUrl, maskUrlSecrets } from '../util/url.js';
import {
  RetryableError,
  isRetryableStatus,
  parseRetryAfter,
  withRetry,
  type RetryOptions,
} from '../util/retry.js';
import type { ExpectedFile } from './integrity.js';
import type { Progress } from '../util/progress.js';
import { PartialWrite, writeAt } from './write-at.js';

export interface UrlDownloadOptions {
  destDir: string;
  logger: Logger;
  retry?: RetryOptions;
  fetch?: typeof fetch;
  progress?: (totalBytes: number, files: number) => Progress;
  /** Per attempt, until the response headers. Default 60 s. */
  headersTimeoutMs?: number;
}

/**
 * GET `url` through `httpsGet` (every Location https, at most 10 redirects), each Location's query
 * masked before anything can print it; a refused redirect is the user's error, naming the hop.
 */
function getHttps(url: string, headers: Record<string, string>, opts: UrlDownloadOptions): Promise<Response> {
  const failed = `Downloading ${displayUrl(url)} failed:`;
  return httpsGet(url, {
    fetch: opts.fetch,
    request: () => ({ headers }),
    headersTimeoutMs: opts.headersTimeoutMs ?? 60_000,
    onLocation: (next) => maskUrlSecrets(next.href, opts.logger),
    refuse: (r) => {
      switch (r.kind) {
        case 'no-location':
          return new UserError(
            `${failed} ${displayUrl(r.from.href)} answered ${r.status} without a Location.`,
            'Check the URL.',
          );
        case 'invalid-location':
          return new UserError(
            `${failed} ${displayUrl(r.from.href)} redirects to an invalid URL.`,
            'Check the URL.',
          );
        case 'not-https':
          return new UserError(
            `${failed} ${displayUrl(r.from.href)} redirects to ${displayUrl(r.to.href)}, which is not https.`,
            'Use a URL that serves the model over https all the way (a model is never downloaded over plain http).',
          );
        case 'too-many':
          return new UserError(
            `${failed} more than ${r.max} redirects.`,
            'Use the final URL of the model file.',
          );
      }
    },
  }).then(({ res }) => res);
}

/** The file name the URL's last path segment gives (model.onnx when it has none). */
export function fileNameOf(url: string): string {
  const last = new URL(url).pathname.split('/').filter(Boolean).pop() ?? '';
  let name: string;
  try {
    name = decodeURIComponent(last);
  } catch {
    name = last;
  }
  return name && !/[\\/]/.test(name) && name !== '.' && name !== '..' ? name : 'model.onnx';
}

/** Downloads `url` into `destDir`; returns the file as expected for verification. */
export async function downloadUrl(url: string, opts: UrlDownloadOptions): Promise<ExpectedFile> {
  const shown = displayUrl(url);
  maskUrlSecrets(url, opts.logger);
  const name = fileNameOf(url);
  await mkdir(opts.destDir, { recursive: true });
  const target = join(opts.destDir, name);
  const part = `${target}.part`;
  await rm(part, { force: true });

  let validator: string | undefined;
  let total: number | undefined;
  let contentMd5: Buffer | undefined;
  let progress: Progress | undefined;
  let received = 0;

  const attempt = async (): Promise<void> => {
    const resume = received > 0 && validator !== undefined;
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (resume) {
      headers.range = `bytes=${received}-`;
      headers['if-range'] = validator!;
    }
    const res = await getHttps(url, headers, opts);
    if (!res.ok) {
      await res.body?.cancel();
      if (isRetryableStatus(res.status)) {
        throw new RetryableError(
          `GET ${shown} returned ${res.status}`,
          parseRetryAfter(res.headers.get('retry-after')),
        );
      }
      throw new UserError(
        `Downloading ${shown} failed: HTTP ${res.status} ${res.statusText}.`,
        res.status === 404
          ? 'Check the URL.'
          : res.status === 401 || res.status === 403
            ? 'the URL needs access rights: use a URL with a valid (unexpired) SAS or a public URL.'
            : 'Check the URL and re-run.',
      );
    }
    const append = resume && res.status === 206;
    if (!append) {
      // A fresh (or non-resumable) response: start the file over.
      if (received > 0) progress?.add(-received);
      received = 0;
      const length = Number(res.headers.get('content-length'));
      total = Number.isFinite(length) && res.headers.has('content-length') ? length : undefined;
      const md5 = res.headers.get('content-md5') ?? res.headers.get('x-ms-blob-content-md5');
      contentMd5 = md5 ? Buffer.from(md5, 'base64') : undefined;
      const etag = res.headers.get('etag');
      const lastModified = res.headers.get('last-modified');
      validator =
        res.headers.get('accept-ranges') === 'bytes'
          ? etag && !etag.startsWith('W/')
            ? etag
            : (lastModified ?? undefined)
          : undefined;
      progress ??= opts.progress?.(total ?? 0, 1);
    }
    if (!res.body) throw new UserError(`Downloading ${shown} returned no body.`, 'Check the URL.');
    if (!append) await writeFile(part, '');
    let counted = 0;
    try {
      received += await writeAt(
        Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
        part,
        received,
        (n) => {
          counted += n;
          progress?.add(n);
        },
      );
    } catch (e) {
      const kept = e instanceof PartialWrite ? e.written : 0;
      received += kept;
      progress?.add(kept - counted);
      throw e instanceof PartialWrite ? e.cause : e;
    }
    if (total !== undefined && received !== total) {
      throw new RetryableError(`GET ${shown} ended after ${received} of ${total} bytes`);
    }
  };

  try {
    await withRetry(attempt, {
      ...opts.retry,
      onRetry: (i) =>
        opts.logger.info(
          `${i.reason.replaceAll(url, shown)}; ${validator && received > 0 ? `resuming at byte ${received}` : 'retrying'} ` +
            `in ${(i.delayMs / 1000).toFixed(1)}s.`,
        ),
    });
  } catch (e) {
    await rm(part, { force: true });
    if (e instanceof UserError) throw e;
    throw new UserError(
      `Downloading ${shown} failed: ${(e instanceof Error ? e.message : String(e)).replaceAll(url, shown)}.`,
      'Re-run the job; if it persists, check that the URL is reachable from the runner.',
      { cause: e },
    );
  }
  await rename(part, target);
  progress?.done();
  const size = total ?? (await stat(target)).size;
  return { path: name, size, contentMd5 };
}
