/**
 * Unpacks the part of a layer tar under one image path (e.g. `app/server/`) into a directory, as the
 * tar streams: files and directories only (a layer of ours holds nothing else), no path that leaves the
 * directory, executables kept executable. The caller unpacks into a temporary directory and keeps it
 * only once the layer's digest and diff_id verified: nothing unpacked is trusted before that.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { HashingStream } from './blobs.js';

/**
 * Reads the tar `source` to its end, writing the entries under `prefix` (e.g. `app/server/`) to `dest`;
 * returns each written file's size and sha256 (`sha256:<hex>`) by posix path, hashed as it was written.
 */
export async function unpackTree(
  source: Readable,
  prefix: string,
  dest: string,
): Promise<Record<string, { size: number; sha256: string }>> {
  const files: Record<string, { size: number; sha256: string }> = {};
  const extract = tar.extract();
  const writing = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const name = posix.normalize(h.name);
      const rel = name.startsWith(prefix) ? name.slice(prefix.length).replace(/\/$/, '') : undefined;
      const safe =
        rel !== undefined && rel !== '' && !rel.split('/').includes('..') && !posix.isAbsolute(rel);
      if (safe && h.type === 'file') {
        const out = join(dest, ...rel.split('/'));
        await mkdir(dirname(out), { recursive: true });
        const hash = new HashingStream();
        await pipeline(entry, hash, createWriteStream(out, { mode: (h.mode ?? 0) & 0o111 ? 0o755 : 0o644 }));
        files[rel] = { size: hash.bytes, sha256: hash.digest() };
        continue;
      }
      if (safe && h.type === 'directory') await mkdir(join(dest, ...rel.split('/')), { recursive: true });
      entry.resume();
    }
  })();
  await Promise.all([pipeline(source, extract as unknown as Writable), writing]);
  return files;
}
