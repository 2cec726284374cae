/**
 * Streams a response body into a file at an offset, keeping what was written when the source fails:
 * the error reports how many bytes are on disk, so a retry can resume there. (A plain
 * stream.pipeline would discard the writes still queued when it tears the streams down, and the
 * bytes seen would overstate the bytes saved.)
 */
import { createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';

/** The source failed after `written` bytes reached the file. */
export class PartialWrite extends Error {
  constructor(
    readonly written: number,
    override readonly cause: unknown,
  ) {
    super('partial write');
  }
}

/**
 * Streams `body` into `file` at `start`. When the source fails mid-way, what reached the file stream
 * is still flushed, and the error reports how many bytes are on disk (a plain pipeline would discard
 * the queued writes when it tears the streams down).
 */
export function writeAt(
  body: NodeJS.ReadableStream,
  file: string,
  start: number,
  onBytes: (n: number) => void,
): Promise<number> {
  const out = createWriteStream(file, { flags: 'r+', start });
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  return new Promise<number>((resolve, reject) => {
    let sourceError: unknown;
    const stopSource = (e: unknown) => {
      if (sourceError !== undefined) return;
      sourceError = e ?? new Error('source failed');
      counter.unpipe(out);
      out.end();
    };
    body.once('error', stopSource);
    counter.once('error', stopSource);
    out.once('error', (e) => reject(new PartialWrite(out.bytesWritten, e)));
    out.once('finish', () => {
      if (sourceError !== undefined) reject(new PartialWrite(out.bytesWritten, sourceError));
      else resolve(out.bytesWritten);
    });
    body.pipe(counter).pipe(out);
  });
}
