/**
 * Layer compression in independent blocks on several cores: a standard gzip member (gzip -t and
 * zlib read it), the same bytes whatever the number of blocks in flight, and incompressible blocks
 * (float weights) stored rather than deflated.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { BLOCK_SIZE, BlockGzip } from '../../src/image/block-gzip.js';
import { tempDir } from './helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');

async function gzip(chunks: Buffer[], parallel?: number): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), new BlockGzip(1, parallel), async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  return Buffer.concat(out);
}

/** Cuts `data` into uneven chunks, as files and tar headers arrive. */
const chunked = (data: Buffer): Buffer[] => {
  const out: Buffer[] = [];
  for (let i = 0, n = 1; i < data.length; i += n, n = (n * 7 + 513) % 300_000)
    out.push(data.subarray(i, i + n));
  return out;
};

describe('BlockGzip', () => {
  it('writes one gzip member that gzip and zlib read back, the same bytes with 1 or 8 blocks in flight', async () => {
    const code = await readFile(join(ROOT, 'server-template', 'dist', 'index.js'));
    const floats = Buffer.from(
      Float32Array.from({ length: 3 * BLOCK_SIZE }, (_, i) => Math.sin(i) * 0.01).buffer,
    );
    const d = await tempDir('block-gzip');
    try {
      for (const data of [Buffer.alloc(0), code, Buffer.concat([code, floats, randomBytes(12345), code])]) {
        const one = await gzip(chunked(data), 1);
        const many = await gzip(chunked(data), 8);
        expect(many.equals(one)).toBe(true);
        expect(gunzipSync(many).equals(data)).toBe(true);
        const file = join(d.dir, 'layer.gz');
        await writeFile(file, many);
        execFileSync('gzip', ['-t', file]);
        expect(many.subarray(0, 10).toString('hex')).toBe('1f8b08000000000004ff'); // mtime 0, OS unknown
      }
      // Code compresses; random bytes are stored (a few bytes of framing per 64 KiB), not deflated.
      expect((await gzip([code])).length).toBeLessThan(code.length / 2);
      const noise = randomBytes(2 * BLOCK_SIZE);
      expect((await gzip([noise])).length).toBeLessThan(noise.length * 1.001);
    } finally {
      await d.cleanup();
    }
  });
});
