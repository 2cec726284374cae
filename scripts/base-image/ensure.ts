/**
 * Build-once access to a cached base image layout: reuses a layout whose build info matches this
 * host's inputs, otherwise builds it, one builder at a time across processes (a lock file holding the
 * builder's pid; a lock whose process died is taken over). Readers never see half a layout: the build
 * happens in a temp dir that is renamed into place.
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { baseImageInputs, buildBaseImage, BUILD_INFO_FILE, type BaseImage } from '../base-image.js';

async function readBuilt(layoutDir: string): Promise<BaseImage | undefined> {
  try {
    const info = JSON.parse(await readFile(join(layoutDir, BUILD_INFO_FILE), 'utf8')) as BaseImage;
    await readFile(join(layoutDir, 'index.json'));
    const want = JSON.stringify(baseImageInputs({}));
    return JSON.stringify(info.inputs) === want ? { ...info, layoutDir } : undefined;
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

async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lock), { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      const fh = await open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (holder && !isAlive(holder)) {
        await unlink(lock).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`${lock} held by pid ${holder} for 15 minutes`, { cause: e });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try {
    return await fn();
  } finally {
    await unlink(lock).catch(() => undefined);
  }
}

/** The layout at `layoutDir` (default platforms), built first when missing or stale. */
export async function ensureBaseImageAt(opts: {
  layoutDir: string;
  cacheDir?: string;
  log?: (message: string) => void;
}): Promise<BaseImage> {
  const layoutDir = resolve(opts.layoutDir);
  const cached = await readBuilt(layoutDir);
  if (cached) return cached;
  return withLock(`${layoutDir}.lock`, async () => {
    const again = await readBuilt(layoutDir); // built by another process while we waited
    if (again) return again;
    const stale = await readFile(join(layoutDir, BUILD_INFO_FILE)).then(
      () => true,
      () => false,
    );
    await buildBaseImage({
      outDir: layoutDir,
      cacheDir: opts.cacheDir,
      replace: stale,
      log: opts.log,
    });
    const built = await readBuilt(layoutDir);
    if (!built) throw new Error(`base image build left no valid layout in ${layoutDir}`);
    return built;
  });
}
