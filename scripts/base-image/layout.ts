/**
 * Writes the base image as an OCI image layout: deterministic gzip'd tar layers (entries in byte order,
 * mtime 0, explicit modes and owners), config and manifest blobs, and index.json.
 *
 * The layer writer is this script's own rather than the image builder's: a base rootfs needs per-entry
 * owners (/home/node belongs to uid 1000) and special modes (/tmp 1777), which the builder's layer
 * writer deliberately fixes (root-owned, read-only app files); and this script must run on its own.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join, posix } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import { HashingStream, sha256 } from '../../src/image/blobs.js';
import type { RootfsEntry } from './rootfs.js';

export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

const NAMES: Record<number, string> = { 0: 'root', 1000: 'node' };

function blobPath(layoutDir: string, digest: string): string {
  return join(layoutDir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

let tmpCounter = 0;
async function tempBlob(layoutDir: string): Promise<string> {
  const dir = join(layoutDir, 'blobs', 'sha256');
  await mkdir(dir, { recursive: true });
  return join(dir, `.tmp-${process.pid}-${tmpCounter++}`);
}

/** Adds every missing parent directory (root, 0755) and sorts by path bytes. */
function completeAndSort(entries: RootfsEntry[]): RootfsEntry[] {
  const byPath = new Map<string, RootfsEntry>();
  for (const e of entries) byPath.set(e.path, e);
  for (const e of entries) {
    for (let d = posix.dirname(e.path); d !== '/'; d = posix.dirname(d)) {
      if (!byPath.has(d)) byPath.set(d, { path: d, type: 'dir', mode: 0o755 });
    }
  }
  return [...byPath.values()].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
}

type EntryHeader = Parameters<tar.Pack['entry']>[0];

/** Adds a directory or an in-memory file. */
function addComplete(pack: tar.Pack, header: EntryHeader, content?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (content === undefined) pack.entry(header, done);
    else pack.entry(header, content, done);
  });
}

/** Streams a file from disk into the pack. */
async function addFile(pack: tar.Pack, header: EntryHeader, source: string): Promise<void> {
  let sink!: Writable;
  const done = new Promise<void>((resolve, reject) => {
    // tar-stream's entry is a streamx Writable: the same write/end/'drain' contract as node's.
    sink = pack.entry(header, (err) => (err ? reject(err) : resolve())) as unknown as Writable;
  });
  for await (const chunk of createReadStream(source, { highWaterMark: 1 << 20 })) {
    if (!sink.write(chunk)) await once(sink, 'drain');
  }
  sink.end();
  await done;
}

async function produce(pack: tar.Pack, entries: RootfsEntry[]): Promise<void> {
  for (const e of entries) {
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    const base = {
      name: e.path.slice(1) + (e.type === 'dir' ? '/' : ''),
      mode: e.mode,
      uid,
      gid,
      uname: NAMES[uid] ?? '',
      gname: NAMES[gid] ?? '',
      mtime: new Date(0),
    };
    if (e.type === 'dir') {
      await addComplete(pack, { ...base, type: 'directory' });
    } else if (e.content) {
      await addComplete(pack, { ...base, type: 'file', size: e.content.length }, e.content);
    } else {
      if (!e.source) throw new Error(`rootfs entry ${e.path} has no content`);
      const { size } = await stat(e.source);
      await addFile(pack, { ...base, type: 'file', size }, e.source);
    }
  }
  pack.finalize();
}

/** Writes one layer; returns its descriptor and diff_id (sha256 of the tar), both from one pass. */
export async function writeLayer(
  layoutDir: string,
  entries: RootfsEntry[],
): Promise<{ descriptor: Descriptor; diffId: string }> {
  const pack = tar.pack();
  const tarHash = new HashingStream();
  const gzHash = new HashingStream();
  const tmp = await tempBlob(layoutDir);
  const producing = produce(pack, completeAndSort(entries));
  producing.catch((err: Error) => pack.destroy(err));
  await Promise.all([
    producing,
    pipeline(pack, tarHash, createGzip({ level: 6 }), gzHash, createWriteStream(tmp)),
  ]);
  const digest = gzHash.digest();
  await rename(tmp, blobPath(layoutDir, digest));
  return {
    descriptor: { mediaType: MEDIA_TYPES.layer, digest, size: gzHash.bytes },
    diffId: tarHash.digest(),
  };
}

/** Writes a JSON document as a blob (compact, keys in the order given). */
export async function writeJsonBlob(layoutDir: string, mediaType: string, doc: unknown): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(doc));
  const digest = sha256(bytes);
  const tmp = await tempBlob(layoutDir);
  await writeFile(tmp, bytes);
  await rename(tmp, blobPath(layoutDir, digest));
  return { mediaType, digest, size: bytes.length };
}

/** Writes `oci-layout` and `index.json` (the layout's entry point). */
export async function writeLayoutIndex(layoutDir: string, manifests: Descriptor[]): Promise<void> {
  await writeFile(join(layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layoutDir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests }, null, 2) + '\n',
  );
}
