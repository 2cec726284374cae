/**
 * Fetches an npm package tarball from the registry, verifies its `integrity` (sha512 SRI from
 * package-lock.json or the registry's metadata) while it streams, extracts only the wanted files with
 * tar-stream and keeps the result in a cache directory between runs. Used when the action runs without
 * node_modules (a GitHub runner only has the committed bundles).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { UserError } from '../errors.js';
import { INFLATE_CHUNK } from '../image/blobs.js';
import type { Logger } from '../util/log.js';
import { RetryableError, isRetryableStatus, parseRetryAfter, withRetry } from '../util/retry.js';
import { checkTree, manifestPathFor, writeTreeManifest } from './tree-manifest.js';

export const NPM_REGISTRY = 'https://registry.npmjs.org';

/** The registry to use: `npm_config_registry` (as npm itself honours it), else the public one. */
export function defaultNpmRegistry(env: NodeJS.ProcessEnv = process.env): string {
  return (env['npm_config_registry'] || env['NPM_CONFIG_REGISTRY'] || NPM_REGISTRY).replace(/\/+$/, '');
}

export interface NpmFetchOptions {
  registry?: string;
  fetch?: typeof fetch;
  logger: Logger;
  /** Known `sha512-...` integrity (from package-lock.json); else the registry's metadata is used. */
  integrity?: string;
}

/** Registry metadata of one version: tarball URL and integrity. */
export async function packageVersionInfo(
  name: string,
  version: string,
  opts: NpmFetchOptions,
): Promise<{ tarball: string; integrity: string }> {
  const f = opts.fetch ?? fetch;
  const url = `${(opts.registry ?? defaultNpmRegistry()).replace(/\/+$/, '')}/${name.replace('/', '%2f')}/${encodeURIComponent(version)}`;
  const meta = await withRetry(async () => {
    const res = await f(url, { headers: { accept: 'application/json' } });
    if (isRetryableStatus(res.status)) {
      throw new RetryableError(
        `npm registry ${res.status} for ${name}@${version}`,
        parseRetryAfter(res.headers.get('retry-after')),
      );
    }
    if (!res.ok) {
      throw new UserError(
        `Could not read ${name}@${version} from the npm registry (${url}): HTTP ${res.status}.`,
        'Check that the runner can reach registry.npmjs.org (or set npm_config_registry to a mirror).',
      );
    }
    return (await res.json()) as { dist?: { tarball?: string; integrity?: string } };
  });
  const tarball = meta.dist?.tarball;
  const integrity = opts.integrity ?? meta.dist?.integrity;
  if (!tarball || !integrity?.startsWith('sha512-')) {
    throw new UserError(
      `The npm registry gave no tarball or sha512 integrity for ${name}@${version}.`,
      'Use the public npm registry or a mirror that serves dist.integrity.',
    );
  }
  return { tarball, integrity };
}

function checkUrl(u: string): void {
  const p = new URL(u).protocol;
  if (p !== 'https:' && p !== 'http:') throw new Error(`refusing to fetch ${u}: not http(s)`);
}

/**
 * Downloads `name@version` and extracts the files for which `want(pathInPackage)` is true into
 * `dest` (paths relative to the package root). Atomic: `dest` appears only once the integrity checked.
 */
export async function fetchPackage(
  name: string,
  version: string,
  dest: string,
  want: (path: string) => boolean,
  opts: NpmFetchOptions,
): Promise<void> {
  const { tarball, integrity } = await packageVersionInfo(name, version, opts);
  checkUrl(tarball);
  const expected = Buffer.from(integrity.slice('sha512-'.length), 'base64').toString('hex');
  const f = opts.fetch ?? fetch;
  opts.logger.info(`Downloading ${name}@${version} from the npm registry`);
  await withRetry(
    async () => {
      const tmp = `${dest}.tmp-${process.pid}-${Date.now()}`;
      await rm(tmp, { recursive: true, force: true });
      try {
        const res = await f(tarball);
        if (isRetryableStatus(res.status))
          throw new RetryableError(
            `npm tarball HTTP ${res.status}`,
            parseRetryAfter(res.headers.get('retry-after')),
          );
        if (!res.ok || !res.body) {
          throw new UserError(
            `Downloading ${tarball} failed: HTTP ${res.status}.`,
            'Check that the runner can reach the npm registry.',
          );
        }
        const hash = createHash('sha512');
        const hasher = new Transform({
          transform(chunk: Buffer, _e, cb) {
            hash.update(chunk);
            cb(null, chunk);
          },
        });
        const extract = tar.extract();
        const writing = (async () => {
          for await (const entry of extract) {
            const h = entry.header;
            const rel = posix.normalize(h.name).replace(/^package\//, '');
            if (h.type === 'file' && !rel.startsWith('..') && !posix.isAbsolute(rel) && want(rel)) {
              const out = join(tmp, rel);
              await mkdir(dirname(out), { recursive: true });
              await pipeline(entry, createWriteStream(out, { mode: (h.mode ?? 0o644) & 0o755 }));
            } else {
              entry.resume();
            }
          }
        })();
        await Promise.all([
          pipeline(
            Readable.fromWeb(res.body as import('node:stream/web').ReadableStream),
            hasher,
            createGunzip({ chunkSize: INFLATE_CHUNK }),
            extract as unknown as Writable,
          ),
          writing,
        ]);
        const actual = hash.digest('hex');
        if (actual !== expected) {
          throw new UserError(
            `${name}@${version} from ${tarball} does not match its integrity (sha512 ${expected.slice(0, 16)}..., got ${actual.slice(0, 16)}...).`,
            'Retry; if it persists, the registry or a proxy serves altered content.',
          );
        }
        await writeFile(join(tmp, '.integrity'), integrity);
        // Every file's sha256 now that the tarball's integrity is proven: reuses are checked against it.
        await writeTreeManifest(tmp, manifestPathFor(dest));
        await rm(dest, { recursive: true, force: true });
        await mkdir(dirname(dest), { recursive: true });
        await rename(tmp, dest);
      } catch (e) {
        await rm(tmp, { recursive: true, force: true });
        throw e;
      }
    },
    { onRetry: (i) => opts.logger.warning(`Retrying ${name} download in ${i.delayMs} ms: ${i.reason}`) },
  );
}

/**
 * True when `dir` holds a completed extraction of the tarball with `integrity` whose files are still
 * the ones extracted (checked against the manifest written then); a tree that differs is warned about.
 */
export async function isCached(dir: string, integrity: string | undefined, logger: Logger): Promise<boolean> {
  let got: string;
  try {
    got = (await readFile(join(dir, '.integrity'), 'utf8')).trim();
  } catch {
    return false;
  }
  if (integrity !== undefined && got !== integrity) return false;
  const problem = await checkTree(dir);
  if (problem) logger.warning(`The cached npm package ${dir} ${problem}; downloading it again.`);
  return problem === undefined;
}
