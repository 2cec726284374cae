/**
 * https URLs (against a local TLS file server with ranges, resets and throttling) and local paths;
 * the digest rules; progress lines.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { failure } from '../fixtures/errors.js';
import { fetchModel, parseModelReference, type FetchedModel } from '../../src/model-source/index.js';
import { createProgress } from '../../src/util/progress.js';
import { serverTlsOptions } from '../fakes/tls.js';
import { captureLogger, fastRetry, tempDir, type CapturedLogger } from './helpers.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

type Fault = { status: number; headers?: Record<string, string> } | { resetAfter: number };

interface FileServer {
  url: string;
  files: Map<string, { body: Buffer; ranges: boolean; md5?: string }>;
  faults: Map<string, Fault[]>;
  requests: Array<{ path: string; range?: string; ifRange?: string; status: number }>;
  stop(): Promise<void>;
}

/** A static https file server with Range/If-Range support and injectable faults. */
async function startFileServer(): Promise<FileServer> {
  const files: FileServer['files'] = new Map();
  const faults: FileServer['faults'] = new Map();
  const requests: FileServer['requests'] = [];
  const server: Server = createServer(serverTlsOptions(), (req, res) => {
    const path = new URL(req.url ?? '/', 'https://x').pathname;
    const record = {
      path,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      status: 0,
    };
    requests.push(record);
    const file = files.get(path);
    const fault = faults.get(path)?.shift();
    if (fault && 'status' in fault) {
      record.status = fault.status;
      res.writeHead(fault.status, fault.headers ?? {});
      res.end();
      return;
    }
    if (!file) {
      record.status = 404;
      res.writeHead(404).end('not found');
      return;
    }
    const etag = `"${sha(file.body).slice(0, 16)}"`;
    const headers: Record<string, string> = { etag, 'content-type': 'application/octet-stream' };
    if (file.ranges) headers['accept-ranges'] = 'bytes';
    let body = file.body;
    let status = 200;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (file.ranges && m && (!req.headers['if-range'] || req.headers['if-range'] === etag)) {
      const start = Number(m[1]);
      body = file.body.subarray(start);
      status = 206;
      headers['content-range'] = `bytes ${start}-${file.body.length - 1}/${file.body.length}`;
    } else if (file.md5) {
      headers['content-md5'] = file.md5;
    }
    headers['content-length'] = String(body.length);
    record.status = status;
    res.writeHead(status, headers);
    if (fault && 'resetAfter' in fault) {
      res.write(body.subarray(0, fault.resetAfter), () => res.socket?.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    files,
    faults,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

let server: FileServer;
let root: { path: string; remove(): Promise<void> };
let n = 0;
const roberta = randomBytes(700_000);

async function fetchRef(
  input: string,
  opts: { expectedSha256?: string; logger?: CapturedLogger } = {},
): Promise<FetchedModel> {
  return fetchModel(parseModelReference(input), {
    azure: {},
    destDir: join(root.path, `out-${++n}`),
    logger: opts.logger ?? captureLogger(),
    retry: fastRetry,
    expectedSha256: opts.expectedSha256,
  });
}

beforeAll(async () => {
  server = await startFileServer();
  root = await tempDir('url-local');
  server.files.set('/models/roberta-sequence-classification-9.onnx', { body: roberta, ranges: true });
  server.files.set('/plain/model.onnx', { body: roberta, ranges: false });
  server.files.set('/md5/model.onnx', {
    body: roberta,
    ranges: false,
    md5: createHash('md5').update('other').digest('base64'),
  });
  server.files.set('/good-md5/iris.onnx', {
    body: roberta,
    ranges: false,
    md5: createHash('md5').update(roberta).digest('base64'),
  });
  server.files.set('/weights/model.bin', { body: roberta, ranges: true });
});

afterAll(async () => {
  await server?.stop();
  await root?.remove();
});

describe('https URL', () => {
  test('downloads the file; name from the file, version from its digest, the SAS masked and never printed', async () => {
    const logger = captureLogger();
    const url = `${server.url}/models/roberta-sequence-classification-9.onnx?sv=2024&sig=VERYSECRETSIG%3D`;
    const model = await fetchRef(url, { logger });
    expect(model).toMatchObject({
      name: 'roberta-sequence-classification-9',
      version: sha(roberta).slice(0, 12),
      sha256: sha(roberta),
      modelFile: 'roberta-sequence-classification-9.onnx',
      source: `${server.url}/models/roberta-sequence-classification-9.onnx`,
    });
    expect(await readFile(join(model.dir, model.modelFile))).toEqual(roberta);
    expect(logger.secrets).toContain('sv=2024&sig=VERYSECRETSIG%3D');
    expect(logger.text()).not.toMatch(/VERYSECRETSIG/);
    expect(logger.text()).toMatch(/Downloaded .*roberta-sequence-classification-9\.onnx: 1 file/);
  });

  test('a connection reset mid-body resumes with a Range request pinned by If-Range', async () => {
    server.faults.set('/models/roberta-sequence-classification-9.onnx', [{ resetAfter: 250_000 }]);
    const before = server.requests.length;
    const logger = captureLogger();
    const model = await fetchRef(`${server.url}/models/roberta-sequence-classification-9.onnx`, { logger });
    expect(model.sha256).toBe(sha(roberta));
    const [first, second] = server.requests.slice(before);
    expect(first).toMatchObject({ status: 200, range: undefined });
    expect(second?.status).toBe(206);
    expect(second?.range).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(second!.range!)![0])).toBeGreaterThan(0);
    expect(second?.ifRange).toMatch(/^"[0-9a-f]+"$/);
    expect(logger.text()).toMatch(/resuming at byte \d+/);
  });

  test('without range support a reset restarts the download from zero', async () => {
    server.faults.set('/plain/model.onnx', [{ resetAfter: 100_000 }]);
    const before = server.requests.length;
    const model = await fetchRef(`${server.url}/plain/model.onnx`);
    expect(model.sha256).toBe(sha(roberta));
    expect(model.name).toBe('plain');
    expect(server.requests.slice(before).map((r) => [r.status, r.range])).toEqual([
      [200, undefined],
      [200, undefined],
    ]);
  });

  test('503 and 429 with Retry-After are retried', async () => {
    server.faults.set('/plain/model.onnx', [
      { status: 503 },
      { status: 429, headers: { 'retry-after': '1' } },
    ]);
    const logger = captureLogger();
    const model = await fetchRef(`${server.url}/plain/model.onnx`, { logger });
    expect(model.sha256).toBe(sha(roberta));
    expect(logger.text()).toMatch(/returned 429; retrying in 1\.0s/);
  });

  test('404 is a user error naming the URL (without its query)', async () => {
    const e = await failure(fetchRef(`${server.url}/missing.onnx?sig=HIDDEN`));
    expect(e.message).toBe(`Downloading ${server.url}/missing.onnx failed: HTTP 404 Not Found.`);
    expect(e.fix).toMatch(/Check the URL/);
  });

  test('Content-MD5 is checked when the server sends it', async () => {
    const e = await failure(fetchRef(`${server.url}/md5/model.onnx`));
    expect(e.message).toMatch(/does not match the Content-MD5/);
    const ok = await fetchRef(`${server.url}/good-md5/iris.onnx`);
    expect(ok.name).toBe('iris');
  });

  test('an https redirect is followed; a redirect to plain http is refused before anything is fetched', async () => {
    const target = `${server.url}/models/roberta-sequence-classification-9.onnx`;
    server.faults.set('/moved.onnx', [{ status: 302, headers: { location: `${target}?sig=MOVEDSIG%3D` } }]);
    const logger = captureLogger();
    const moved = await fetchRef(`${server.url}/moved.onnx`, { logger });
    expect(moved.sha256).toBe(sha(roberta));
    expect(logger.secrets).toContain('sig=MOVEDSIG%3D');

    let httpRequests = 0;
    const plain = createHttpServer((_req, res) => {
      httpRequests++;
      res.writeHead(200, { 'content-length': String(roberta.length) }).end(roberta);
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const http = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/m.onnx`;
      server.faults.set('/downgrade.onnx', [
        { status: 301, headers: { location: `${http}?sv=1&sig=DOWNSIG` } },
      ]);
      const e = await failure(fetchRef(`${server.url}/downgrade.onnx?sig=FIRSTSIG`));
      expect(e.message).toBe(
        `Downloading ${server.url}/downgrade.onnx failed: ${server.url}/downgrade.onnx redirects to ${http}, which is not https.`,
      );
      expect(e.fix).toMatch(/https/);
      expect(httpRequests).toBe(0);
    } finally {
      await new Promise((r) => plain.close(r));
    }
  });

  test('a file that is not .onnx is an error naming what was found', async () => {
    const e = await failure(fetchRef(`${server.url}/weights/model.bin`));
    expect(e.message).toMatch(/contains no \.onnx file \(found: model\.bin\)/);
  });
});

describe('local path', () => {
  test('a single .onnx file: copied, named after the file', async () => {
    const dir = join(root.path, 'local-file');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'iris.onnx'), roberta);
    const model = await fetchRef(join(dir, 'iris.onnx'));
    expect(model).toMatchObject({
      name: 'iris',
      version: sha(roberta).slice(0, 12),
      sha256: sha(roberta),
      modelFile: 'iris.onnx',
      files: [{ path: 'iris.onnx', size: roberta.length, sha256: sha(roberta) }],
    });
  });

  test('a folder: nested files kept, named after the folder, digest reproducible with sha256sum', async () => {
    const dir = join(root.path, 'sentiment');
    await mkdir(join(dir, 'tokenizer', 'extra'), { recursive: true });
    await writeFile(join(dir, 'model.onnx'), roberta);
    await writeFile(join(dir, 'config.json'), '{"id2label":{}}');
    await writeFile(join(dir, 'tokenizer', 'tokenizer.json'), '{}');
    await writeFile(join(dir, 'tokenizer', 'extra', 'Z-upper.txt'), 'z');
    const model = await fetchRef(`${dir}/`);
    expect(model.name).toBe('sentiment');
    expect(model.files.map((f) => f.path)).toEqual([
      'config.json',
      'model.onnx',
      'tokenizer/extra/Z-upper.txt',
      'tokenizer/tokenizer.json',
    ]);
    const shell = execFileSync(
      'bash',
      ['-c', `find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum`],
      { cwd: dir, encoding: 'utf8' },
    ).split(' ')[0];
    expect(model.sha256).toBe(shell);
    // The same bytes always give the same version.
    const again = await fetchRef(dir);
    expect(again.version).toBe(model.version);
  });

  test('a folder: links inside it are copied as files, .git is never packaged', async () => {
    const dir = join(root.path, 'linked');
    await mkdir(join(dir, '.git'), { recursive: true });
    await mkdir(join(dir, 'sub'), { recursive: true });
    await writeFile(join(dir, 'model.onnx'), roberta);
    await writeFile(join(dir, 'config.json'), '{}');
    await writeFile(join(dir, '.git', 'config'), '[http] extraheader = AUTHORIZATION: basic TOKEN');
    await symlink('../config.json', join(dir, 'sub', 'alias.json'));
    await symlink('sub', join(dir, 'sub-link'));
    const model = await fetchRef(dir);
    expect(model.files.map((f) => f.path)).toEqual([
      'config.json',
      'model.onnx',
      'sub-link/alias.json',
      'sub/alias.json',
    ]);
    expect(await readFile(join(model.dir, 'sub', 'alias.json'), 'utf8')).toBe('{}');
  });

  test.each<[string, (dir: string, outside: string) => Promise<void>, RegExp]>([
    [
      'a link to a file outside the folder',
      (dir, outside) => symlink(join(outside, 'config.json'), join(dir, 'docker-config.json')),
      /holds a symbolic link that leads out of it: docker-config\.json\.$/,
    ],
    [
      'a nested relative link out of the folder',
      (dir) => mkdir(join(dir, 'a')).then(() => symlink('../../outside', join(dir, 'a', 'up'))),
      /leads out of it: a\/up\.$/,
    ],
    [
      'a link that loops back to the folder',
      (dir) => symlink('.', join(dir, 'loop')),
      /loops back to a folder above it: loop\.$/,
    ],
  ])('a folder with %s is refused with one error line', async (_, link, message) => {
    const base = join(root.path, `links-${++n}`);
    const dir = join(base, 'model');
    const outside = join(base, 'outside');
    await mkdir(dir, { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'config.json'), '{"auths":{"ghcr.io":{"auth":"c2VjcmV0"}}}');
    await writeFile(join(dir, 'model.onnx'), roberta);
    await link(dir, outside);
    const e = await failure(fetchRef(dir));
    expect(e.message).toMatch(message);
    expect(e.toString()).not.toMatch(/\n/);
  });

  test('model-sha256: the single file sha256 matches, another value fails', async () => {
    const file = join(root.path, 'local-file', 'iris.onnx');
    await expect(fetchRef(file, { expectedSha256: sha(roberta) })).resolves.toMatchObject({
      sha256: sha(roberta),
    });
    const e = await failure(fetchRef(file, { expectedSha256: sha('x') }));
    expect(e.message).toMatch(/does not match model-sha256/);
    const bad = await failure(fetchRef(file, { expectedSha256: 'abc' }));
    expect(bad.message).toMatch(/is not a sha256/);
  });

  test('a missing path, a folder with two .onnx files, and one with none are user errors', async () => {
    expect((await failure(fetchRef(join(root.path, 'nope', 'model.onnx')))).message).toMatch(
      /does not exist/,
    );
    const two = join(root.path, 'two');
    await mkdir(two, { recursive: true });
    await writeFile(join(two, 'a.onnx'), 'a');
    await writeFile(join(two, 'b.onnx'), 'b');
    expect((await failure(fetchRef(two))).message).toMatch(/contains 2 \.onnx files \(a\.onnx, b\.onnx\)/);
    const none = join(root.path, 'none');
    await mkdir(none, { recursive: true });
    await writeFile(join(none, 'weights.bin'), 'w');
    expect((await failure(fetchRef(none))).message).toMatch(/no \.onnx file \(found: weights\.bin\)/);
  });
});

describe('progress', () => {
  test('a line every interval with bytes, percent, speed and ETA, then a summary', () => {
    const logger = captureLogger();
    let now = 0;
    const p = createProgress({
      label: 'big',
      totalBytes: 100 * 1024 * 1024,
      files: 2,
      logger,
      intervalMs: 5000,
      now: () => now,
    });
    now = 1000;
    p.add(10 * 1024 * 1024);
    expect(logger.lines).toHaveLength(0);
    now = 5000;
    p.add(10 * 1024 * 1024);
    now = 7000;
    p.add(10 * 1024 * 1024);
    now = 10_000;
    p.add(20 * 1024 * 1024);
    now = 20_000;
    p.add(50 * 1024 * 1024);
    p.done();
    expect(logger.lines).toEqual([
      'info: Downloading big: 20.0 MB of 100.0 MB (20%), 4.0 MB/s, ETA 20s',
      'info: Downloading big: 50.0 MB of 100.0 MB (50%), 5.0 MB/s, ETA 10s',
      'info: Downloaded big: 2 files, 100.0 MB in 20.0s (5.0 MB/s)',
    ]);
  });
});
