/**
 * Per-file sha256 manifests of cached trees (a staged server runtime, an extracted npm package). One is
 * written when a tree is made, from the bytes just verified or copied, and every reuse checks the tree
 * against it: a runner's tool cache can be restored by actions/cache, shared between jobs on
 * self-hosted runners or edited by an earlier step, so a marker file saying "done" proves nothing
 * about what is in it now. The manifest lives beside the tree (`<dir>.files.json`), not in it, so a
 * staged runtime (an image layer as is) does not change.
 */
import { lstat, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { fileDigest } from '../image/blobs.js';
import type { TreeFiles } from '../image/unpack.js';

interface TreeManifest {
  version: 1;
  /** Posix path relative to the tree -> size and `sha256:<hex>`. */
  files: TreeFiles;
}

export function manifestPathFor(dir: string): string {
  return `${dir}.files.json`;
}

/** Every entry under `root`: regular files, directories and anything else (links, sockets...). */
async function listTree(root: string): Promise<{ files: string[]; dirs: string[]; other: string[] }> {
  const out = { files: [] as string[], dirs: [] as string[], other: [] as string[] };
  const walk = async (dir: string): Promise<void> => {
    for (const ent of await readdir(dir, { withFileTypes: true })) {
      const abs = join(dir, ent.name);
      const rel = relative(root, abs).split(sep).join('/');
      if (ent.isDirectory()) {
        out.dirs.push(rel);
        await walk(abs);
      } else if (ent.isFile()) out.files.push(rel);
      else out.other.push(rel);
    }
  };
  await walk(root);
  out.files.sort();
  return out;
}

/**
 * Hashes every file of `dir` and writes the manifest to `manifestPath` (atomically); `known` gives the
 * files' digests when they were hashed as they were written (unpacking), sparing a second read.
 */
export async function writeTreeManifest(
  dir: string,
  manifestPath = manifestPathFor(dir),
  known?: TreeManifest['files'],
): Promise<void> {
  const m: TreeManifest = { version: 1, files: {} };
  if (known) m.files = Object.fromEntries(Object.entries(known).sort(([a], [b]) => (a < b ? -1 : 1)));
  else {
    for (const f of (await listTree(dir)).files) {
      const { digest, size } = await fileDigest(join(dir, ...f.split('/')));
      m.files[f] = { size, sha256: digest };
    }
  }
  const tmp = `${manifestPath}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, `${JSON.stringify(m, null, 1)}\n`);
  await rename(tmp, manifestPath);
}

const list = (names: string[]): string =>
  names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ');

/** The files a tree's manifest lists (call after `checkTree` found the tree as listed). */
export async function readTreeManifest(dir: string, manifestPath = manifestPathFor(dir)): Promise<TreeFiles> {
  return (JSON.parse(await readFile(manifestPath, 'utf8')) as TreeManifest).files;
}

/**
 * Checks `dir` against its manifest: undefined when every file is there with its size and sha256 and
 * nothing else is; else what differs ("index.js changed", "a.js missing", "x extra", "has no file
 * manifest"), first finding only.
 */
export async function checkTree(
  dir: string,
  manifestPath = manifestPathFor(dir),
): Promise<string | undefined> {
  let m: TreeManifest;
  try {
    m = JSON.parse(await readFile(manifestPath, 'utf8')) as TreeManifest;
    if (m.version !== 1 || typeof m.files !== 'object' || m.files === null) throw new Error('unknown format');
  } catch {
    return 'has no readable file manifest';
  }
  const expected = Object.keys(m.files).sort();
  const { files, dirs, other } = await listTree(dir);
  const present = new Set(files);
  const missing = expected.filter((f) => !present.has(f));
  if (missing.length) return `misses ${list(missing)}`;
  const known = new Set(expected);
  const parents = new Set(
    expected.flatMap((f) =>
      f
        .split('/')
        .slice(0, -1)
        .map((_, i, a) => a.slice(0, i + 1).join('/')),
    ),
  );
  const extra = [...files.filter((f) => !known.has(f)), ...other, ...dirs.filter((d) => !parents.has(d))];
  if (extra.length) return `has files it was not staged with: ${list(extra.sort())}`;
  for (const f of expected) {
    const want = m.files[f]!;
    const abs = join(dir, ...f.split('/'));
    if ((await lstat(abs)).size !== want.size || (await fileDigest(abs)).digest !== want.sha256) {
      return `has ${f} changed since it was staged`;
    }
  }
  return undefined;
}
