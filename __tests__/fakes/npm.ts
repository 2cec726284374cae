/**
 * A loopback npm registry serving real onnxruntime-node / onnxruntime-common tarballs packed from the
 * repository's node_modules, at the registry's paths (`/{name}/{version}` metadata with
 * `dist.tarball` and `dist.integrity`, `/{name}/-/{name}-{version}.tgz`), recording every request so a
 * test can say whether (and what) a run downloaded. No npm registry runs offline; Verdaccio would need
 * every dependency it proxies.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

const ROOT = join(import.meta.dirname, '..', '..');
export const ORT_DIR = join(ROOT, 'node_modules', 'onnxruntime-node');
export const COMMON_DIR = join(ROOT, 'node_modules', 'onnxruntime-common');

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** An npm-style tarball (`package/...`) of every file under `dir` whose path passes `keep`. */
export async function npmTarball(dir: string, keep: (rel: string) => boolean): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collecting = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const rel of (await walk(dir)).filter(keep)) {
    const data = await readFile(join(dir, rel));
    await new Promise<void>((res, rej) =>
      pack.entry({ name: `package/${rel}`, mode: 0o644 }, data, (e) => (e ? rej(e) : res())),
    );
  }
  pack.finalize();
  await collecting;
  return gzipSync(Buffer.concat(chunks), { level: 1 });
}

export const sriOf = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('base64')}`;

export interface FakeNpm {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Request paths, in order. */
  requests: string[];
  /** Tarballs by package name (replace one to serve other bytes). */
  tarballs: Map<string, Buffer>;
  /** The integrity the metadata announces, by name (default: the tarball's). */
  integrity: Map<string, string>;
  close(): Promise<void>;
}

/** onnxruntime-node 1.30.0 (Linux binaries only, to keep it small) and onnxruntime-common. */
export async function startFakeNpm(): Promise<FakeNpm> {
  const tarballs = new Map<string, Buffer>([
    ['onnxruntime-node', await npmTarball(ORT_DIR, (r) => !r.startsWith('bin/') || r.includes('/linux/'))],
    ['onnxruntime-common', await npmTarball(COMMON_DIR, () => true)],
  ]);
  const integrity = new Map([...tarballs].map(([n, b]) => [n, sriOf(b)]));
  const requests: string[] = [];
  let url = '';
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const m = /^\/([^/]+)\/(1\.30\.0|-\/.*\.tgz)$/.exec(req.url ?? '');
    const name = m?.[1] ?? '';
    if (m && m[2] === '1.30.0' && tarballs.has(name)) {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          name,
          version: '1.30.0',
          dist: { tarball: `${url}/${name}/-/${name}-1.30.0.tgz`, integrity: integrity.get(name) },
        }),
      );
    } else if (m && tarballs.has(name)) {
      res.end(tarballs.get(name));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    tarballs,
    integrity,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
