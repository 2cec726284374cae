/**
 * The local base image for tests (Docker Hub and GHCR are unreachable here): built once by
 * scripts/base-image.ts into the repo's gitignored .cache/base-image (an OCI image layout with a
 * linux/amd64 + linux/arm64 index) and pushed to a local registry with skopeo.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { LAYOUT_TAG, type BaseImage } from '../../scripts/base-image.js';
import { ensureBaseImageAt } from '../../scripts/base-image/ensure.js';
import { makeTempDir, removeDir, requireCommand } from './proc.js';
import type { LocalRegistry } from './registry.js';

const run = promisify(execFile);

const CACHE_DIR = fileURLToPath(new URL('../../.cache/', import.meta.url));
/** Where `npm start` and the tests find the base image (`oci-layout:.cache/base-image`). */
export const BASE_IMAGE_DIR = join(CACHE_DIR, 'base-image');

let memo: Promise<BaseImage> | undefined;

/**
 * The base image layout, built on first use (under a minute; needs the npm registry and Debian's
 * mirrors for the arm64 parts) and reused after, across test files and runs.
 */
export async function ensureBaseImage(): Promise<{
  layoutDir: string;
  platforms: string[];
  /** Index digest. */
  digest: string;
  /** Per-platform manifest digests. */
  manifests: Record<string, string>;
  notes: string[];
}> {
  memo ??= ensureBaseImageAt({
    layoutDir: BASE_IMAGE_DIR,
    cacheDir: join(CACHE_DIR, 'base-image-src'),
    log: (m) => process.stderr.write(`base-image: ${m}\n`),
  });
  memo.catch(() => {
    memo = undefined; // let a later call try again
  });
  return memo;
}

/**
 * Pushes the base image to `reg` as a multi-platform index (skopeo copy --all, digests preserved);
 * returns the pushed reference (`HOST/REPO:TAG`) and the index digest.
 */
export async function pushBaseImage(
  reg: LocalRegistry,
  repo: string,
  tag = 'latest',
): Promise<{ ref: string; digest: string }> {
  const skopeo = requireCommand('skopeo', 'skopeo');
  const { layoutDir } = await ensureBaseImage();
  const ref = `${reg.host}/${repo}:${tag}`;
  const tmp = await makeTempDir('skopeo');
  try {
    const digestFile = join(tmp, 'digest');
    const args = [
      '--insecure-policy',
      'copy',
      '--all',
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...(reg.auth === 'none' ? ['--dest-no-creds'] : ['--dest-creds', `${reg.username}:${reg.password}`]),
      '--digestfile',
      digestFile,
      `oci:${layoutDir}:${LAYOUT_TAG}`,
      `docker://${ref}`,
    ];
    try {
      await run(skopeo, args, { env: { ...process.env, TMPDIR: tmp }, maxBuffer: 16 << 20 });
    } catch (e) {
      const stderr = (e as { stderr?: string }).stderr ?? (e as Error).message;
      // The arguments hold the password: report skopeo's own message only.
      throw new Error(`skopeo copy of the base image to ${ref} failed: ${stderr.trim()}`, { cause: e });
    }
    return { ref, digest: (await readFile(digestFile, 'utf8')).trim() };
  } finally {
    await removeDir(tmp);
  }
}
