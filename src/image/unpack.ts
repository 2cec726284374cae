/**
 * Unpacks the part of a layer tar under one image path (e.g. `app/server/`) into a directory (or only
 * hashes its files), as the tar streams: files and directories only (a layer of ours holds nothing else), no path that leaves the
 * directory, executables kept executable. The caller unpacks into a temporary directory and keeps it
 * only once the layer's digest and diff_id verified: nothing unpacked is trusted before that.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { HashingStream } from './blobs.js';

/** Files of a tree: size and sha256 (`sha256:<hex>`) by posix path relative to its root. */
export type TreeFiles = Record<string, { size: number; sha256: string }>;

/**
 * Reads the tar `source` to its end, writing the entries under `prefix` (e.g. `app/server/`) to `dest`
 * (or nowhere when `dest` is undefined: the files are only hashed); returns each file's size and sha256
 * by posix path, hashed as it streamed.
 */
export async function unpackTree(
  source: Readable,
  prefix: string,
  dest: string | undefined,
): Promise<TreeFiles> {
  const files: TreeFiles = {};
  const extract = tar.extract();
  const writing = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = posix.normalize(h.name);
      const rel = name.startsWith(prefix) ? name.slice(prefix.length).replace(/\/$/, '') : undefined;
      const safe =
        rel !== undefined && rel !== '' && !rel.split('/').includes('..') && !posix.isAbsolute(rel);
      if (safe && h.type === 'file') {
        const hash = new HashingStream();
        if (dest === undefined)
          await pipeline(entry, hash, new Writable({ write: (_c, _e, done) => done() }));
        else {
          const out = join(dest, ...rel.split('/'));
          await mkdir(dirname(out), { recursive: true });
          const mode = (h.mode ?? 0) & 0o111 ? 0o755 : 0o644;
          await pipeline(entry, hash, createWriteStream(out, { mode }));
        }
        files[rel] = { size: hash.bytes, sha256: hash.digest() };
        continue;
      }
      if (safe && h.type === 'directory' && dest !== undefined)
        await mkdir(join(dest, ...rel.split('/')), { recursive: true });
      entry.resume();
    }
  })();
  await Promise.all([pipeline(source, extract as unknown as Writable), writing]);
  return files;
}
