/**
 * The local base image for tests (Docker Hub and GHCR are unreachable here): built once by
 * scripts/base-image.ts into the repo's gitignored .cache/base-image (an OCI image layout with a
 * linux/amd64 + linux/arm64 index) and pushed to a local registry with skopeo.
 */
import { execFile } from 'node:child_process';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  BUILD_INFO_FILE,
  LAYOUT_TAG,
  baseImageInputs,
  buildBaseImage,
  type BaseImage,
} from '../../scripts/base-image.js';
import { makeTempDir, removeDir, requireCommand } from './proc.js';
import type { LocalRegistry } from './registry.js';

const run = promisify(execFile);

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE_DIR = join(REPO_ROOT, '.cache');
/** Where `npm start` and the tests find the base image (`oci-layout:.cache/base-image`). */
export const BASE_IMAGE_DIR = join(CACHE_DIR, 'base-image');
const LOCK = join(CACHE_DIR, 'base-image.lock');

async function readBuilt(): Promise<BaseImage | undefined> {
  try {
    const info = JSON.parse(await readFile(join(BASE_IMAGE_DIR, BUILD_INFO_FILE), 'utf8')) as BaseImage;
    await readFile(join(BASE_IMAGE_DIR, 'index.json'));
    const want = JSON.stringify(baseImageInputs({}));
    return JSON.stringify(info.inputs) === want ? { ...info, layoutDir: BASE_IMAGE_DIR } : undefined;
  } catch {
    return undefined;
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * One builder at a time across processes (jest workers): the lock file holds the builder's pid; the
 * others wait for it, and a lock whose process died is taken over.
 */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(CACHE_DIR, { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      const fh = await open(LOCK, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(LOCK, 'utf8').catch(() => '')).trim());
      if (holder && !isAlive(holder)) {
        await unlink(LOCK).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${LOCK} held by pid ${holder} for 15 minutes`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(LOCK).catch(() => undefined);
  }
}

let memo: Promise<BaseImage> | undefined;

/** The base image layout, built on first use (about half a minute) and reused after. */
export async function ensureBaseImage(): Promise<{
  layoutDir: string;
  platforms: string[];
  digest: string;
  manifests: Record<string, string>;
  notes: string[];
}> {
  memo ??= (async () => {
    const cached = await readBuilt();
    if (cached) return cached;
    return withBuildLock(async () => {
      const again = await readBuilt(); // built by another process while we waited
      if (again) return again;
      const stale = await readFile(join(BASE_IMAGE_DIR, BUILD_INFO_FILE)).then(
        () => true,
        () => false,
      );
      await buildBaseImage({
        outDir: BASE_IMAGE_DIR,
        cacheDir: join(CACHE_DIR, 'base-image-src'),
        replace: stale,
        log: (m) => process.stderr.write(`base-image: ${m}\n`),
      });
      const built = await readBuilt();
      if (!built) throw new Error(`base image build left no valid layout in ${BASE_IMAGE_DIR}`);
      return built;
    });
  })();
  memo.catch(() => {
    memo = undefined; // let a later call try again
  });
  return memo;
}

/**
 * Pushes the base image to `reg` as a multi-platform index (skopeo copy --all); returns the pushed
 * reference (`HOST/REPO:TAG`) and the index digest.
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
      '--dest-tls-verify=false',
      ...(reg.auth === 'none' ? ['--dest-no-creds'] : ['--dest-creds', `${reg.username}:${reg.password}`]),
      '--preserve-digests',
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
      throw new Error(`skopeo copy of the base image to ${ref} failed: ${stderr.trim()}`, {
        cause: e,
      });
    }
    return { ref, digest: (await readFile(digestFile, 'utf8')).trim() };
  } finally {
    await removeDir(tmp);
  }
}
