/**
 * Integrity of a downloaded model: Content-MD5 where the storage service keeps one, the sha256 of every
 * file, and one model digest over the set, checked against the optional `model-sha256` input.
 *
 * Model digest: for a model that is a single file, that file's sha256 (so `sha256sum model.onnx` gives
 * it); for a folder, the sha256 of the `sha256sum`-style manifest of its files sorted by path
 * (`<hex>  <path>\n`, POSIX separators, byte order), reproducible with
 * `find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { UserError } from '../errors.js';

export interface FileDigest {
  /** Relative to the model directory, with '/' separators. */
  path: string;
  size: number;
  sha256: string;
}

export interface FileHashes {
  size: number;
  sha256: string;
  md5: Buffer;
}

/** Streams a file once through sha256 and md5. */
export async function hashFile(file: string): Promise<FileHashes> {
  const sha = createHash('sha256');
  const md5 = createHash('md5');
  let size = 0;
  await pipeline(
    createReadStream(file, { highWaterMark: 1024 * 1024 }),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        sha.update(chunk);
        md5.update(chunk);
        size += chunk.length;
        cb();
      },
    }),
  );
  return { size, sha256: sha.digest('hex'), md5: md5.digest() };
}

/** Every regular file under `dir`, relative, '/'-separated, sorted by byte order. */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort(byteOrder);
}

export function byteOrder(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

/** The model digest (see the module comment). */
export function modelDigest(files: readonly FileDigest[]): string {
  if (files.length === 1) return files[0]!.sha256;
  const manifest = [...files]
    .sort((a, b) => byteOrder(a.path, b.path))
    .map((f) => `${f.sha256}  ${f.path}\n`)
    .join('');
  return createHash('sha256').update(manifest).digest('hex');
}

export interface ExpectedFile {
  path: string;
  size?: number;
  /** Content-MD5 the storage service holds for the blob, when it has one. */
  contentMd5?: Uint8Array;
}

/**
 * Hashes every file in `dir`, checking sizes and Content-MD5 of the `expected` ones (the blobs listed).
 */
export async function digestFiles(
  dir: string,
  expected: readonly ExpectedFile[] = [],
): Promise<FileDigest[]> {
  const byPath = new Map(expected.map((e) => [e.path, e]));
  const out: FileDigest[] = [];
  for (const path of await listFiles(dir)) {
    const h = await hashFile(join(dir, path));
    const want = byPath.get(path);
    if (want?.size !== undefined && want.size !== h.size) {
      throw new UserError(
        `Downloaded file ${path} has ${h.size} bytes; the blob has ${want.size}.`,
        'Re-run the job; if it persists, check the storage account for concurrent changes to the model files.',
      );
    }
    if (want?.contentMd5 && want.contentMd5.length > 0 && !h.md5.equals(Buffer.from(want.contentMd5))) {
      throw new UserError(
        `Downloaded file ${path} does not match the Content-MD5 stored with its blob ` +
          `(expected ${Buffer.from(want.contentMd5).toString('base64')}, got ${h.md5.toString('base64')}).`,
        'Re-run the job; if it persists, the blob is corrupt or was changed after upload: upload and register the model again.',
      );
    }
    out.push({ path, size: h.size, sha256: h.sha256 });
  }
  return out;
}

/** Checks the `model-sha256` input against the model digest. */
export function checkExpectedSha256(
  digest: string,
  expected: string | undefined,
  files: readonly FileDigest[],
): void {
  const want = expected
    ?.trim()
    .toLowerCase()
    .replace(/^sha256:/, '');
  if (!want) return;
  if (!/^[0-9a-f]{64}$/.test(want)) {
    throw new UserError(
      `model-sha256 '${expected}' is not a sha256 (64 hex digits).`,
      'Set model-sha256 to the model digest printed by a previous run, or `sha256sum model.onnx` for a single file.',
    );
  }
  if (want === digest) return;
  throw new UserError(
    `The model's sha256 ${digest} does not match model-sha256 ${want}` +
      (files.length > 1 ? ` (the model has ${files.length} files; the digest covers all of them)` : '') +
      '.',
    'Check that the reference names the intended version; if the model changed on purpose, update model-sha256.',
  );
}
