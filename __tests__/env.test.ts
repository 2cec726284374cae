/**
 * Tests of the test environment itself, against the real components: Azurite, the fault proxy,
 * Debian's docker-registry (htpasswd and bearer-token auth), skopeo, and a Docker engine.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, readFile, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { buildBaseImage, elfMachineName } from '../scripts/base-image.js';
import {
  ensureBaseImage,
  pushBaseImage,
  startAzurite,
  startDocker,
  startFaultProxy,
  startRegistry,
  type Azurite,
  type DockerEngine,
  type DockerResult,
  type FaultProxy,
  type LocalRegistry,
} from './env/index.js';
import { makeTempDir, removeDir } from './env/proc.js';
import { serverCertPath, serverKeyPath } from './fakes/tls.js';

const run = promisify(execFile);
const BUILD_TIMEOUT = 15 * 60_000;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
}
interface Index {
  mediaType: string;
  manifests: Descriptor[];
}
interface Manifest {
  config: Descriptor;
  layers: Descriptor[];
}

const blob = (layout: string, digest: string): string => join(layout, 'blobs', 'sha256', digest.slice(7));
const readJson = async <T>(path: string): Promise<T> => JSON.parse(await readFile(path, 'utf8')) as T;

/** The image index and per-platform manifests of an OCI layout built by scripts/base-image.ts. */
async function readLayout(layout: string): Promise<{ index: Index; manifests: Record<string, Manifest> }> {
  const top = await readJson<Index>(join(layout, 'index.json'));
  const index = await readJson<Index>(blob(layout, top.manifests[0]!.digest));
  const manifests: Record<string, Manifest> = {};
  for (const m of index.manifests) {
    manifests[`${m.platform!.os}/${m.platform!.architecture}`] = await readJson<Manifest>(
      blob(layout, m.digest),
    );
  }
  return { index, manifests };
}

/** Files of a gzip'd tar layer: name -> { mode, uid, head (first 20 bytes), text (small files) }. */
async function layerFiles(
  path: string,
): Promise<Map<string, { mode: number; uid: number; type: string; head: Buffer; text?: string }>> {
  const files = new Map<string, { mode: number; uid: number; type: string; head: Buffer; text?: string }>();
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    stream.on('data', (c: unknown) => {
      if (!Buffer.isBuffer(c)) return;
      if (kept < 4096) {
        chunks.push(c);
        kept += c.length;
      }
    });
    stream.on('end', () => {
      const data = Buffer.concat(chunks);
      files.set(header.name, {
        mode: header.mode ?? 0,
        uid: header.uid ?? -1,
        type: header.type ?? 'file',
        head: data.subarray(0, 20),
        ...((header.size ?? 0) < 4096 ? { text: data.toString('utf8') } : {}),
      });
      next();
    });
  });
  await pipeline(createReadStream(path), createGunzip(), extract);
  return files;
}

const elfOf = (head: Buffer): string =>
  elfMachineName(
    head.length >= 20 && head.readUInt32BE(0) === 0x7f454c46 ? head.readUInt16LE(18) : undefined,
  );

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

/** Parses `Bearer realm="...",service="...",scope="..."`. */
function bearerChallenge(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  const params: Record<string, string> = {};
  for (const m of (header ?? '').matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return params;
}

/** Asks the token service of `reg` for a token, like a registry client does after a 401. */
async function fetchToken(
  reg: LocalRegistry,
  scope: string,
  creds?: { username: string; password: string },
): Promise<Response> {
  const ts = reg.tokenService!;
  const url = `${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=${encodeURIComponent(scope)}`;
  return fetch(url, creds ? { headers: { authorization: basic(creds.username, creds.password) } } : {});
}

/** Pushes one blob (monolithic POST + PUT) with the given Authorization; returns the final status. */
async function pushBlob(
  reg: LocalRegistry,
  repo: string,
  authorization: string,
  data: Buffer,
): Promise<number> {
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { authorization },
  });
  await start.arrayBuffer();
  if (start.status !== 202) return start.status;
  const location = new URL(start.headers.get('location')!, reg.url);
  location.searchParams.set('digest', `sha256:${sha256(data)}`);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { authorization, 'content-type': 'application/octet-stream' },
    body: data,
  });
  await put.arrayBuffer();
  return put.status;
}

describe('Azurite', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it('answers a container create, an upload and a download with @azure/storage-blob', async () => {
    expect(azurite.blobEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient('models');
    await container.create();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await container.getBlockBlobClient('v1/model.onnx').uploadData(data);
    const got = await container.getBlobClient('v1/model.onnx').downloadToBuffer();
    expect(sha256(got)).toBe(sha256(data));
    const names: string[] = [];
    for await (const b of container.listBlobsFlat()) names.push(b.name);
    expect(names).toEqual(['v1/model.onnx']);
  });

  it('accepts the shared key credential with the blob endpoint', async () => {
    const cred = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
    const service = new BlobServiceClient(azurite.blobEndpoint, cred);
    await service.getContainerClient('keyed').create();
    const names: string[] = [];
    for await (const c of service.listContainers()) names.push(c.name);
    expect(names).toContain('keyed');
  });
});

describe('Azurite over https', () => {
  it('serves the blob API with the given certificate (the test CA that npm test trusts)', async () => {
    const azurite = await startAzurite({ tls: { certPath: serverCertPath, keyPath: serverKeyPath } });
    try {
      expect(azurite.blobEndpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
      expect(azurite.connectionString).toContain('DefaultEndpointsProtocol=https;');
      const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(
        'tls',
      );
      await container.create();
      const data = randomBytes(100_000);
      await container.getBlockBlobClient('b').uploadData(data);
      expect(sha256(await container.getBlobClient('b').downloadToBuffer())).toBe(sha256(data));
    } finally {
      await azurite.stop();
    }
  });
});

describe('fault proxy in front of Azurite', () => {
  let azurite: Azurite;
  let proxy: FaultProxy;
  let service: BlobServiceClient;
  const data = randomBytes(2 * 1024 * 1024);

  beforeAll(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(new URL(azurite.blobEndpoint).origin);
    const cred = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
    // No SDK retries: the test must see each injected fault.
    service = new BlobServiceClient(`${proxy.url}/${azurite.accountName}`, cred, {
      retryOptions: { maxTries: 1 },
    });
    await service.getContainerClient('faults').create({ access: 'blob' });
    await service.getContainerClient('faults').getBlockBlobClient('blob.bin').uploadData(data);
  });
  afterAll(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  it('forwards requests and records them in order', async () => {
    expect(proxy.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const before = proxy.requests.length;
    const got = await service.getContainerClient('faults').getBlobClient('blob.bin').downloadToBuffer();
    expect(sha256(got)).toBe(sha256(data));
    const seen = proxy.requests.slice(before);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    for (const r of seen) {
      expect(r.path).toMatch(/^\/devstoreaccount1\/faults\/blob\.bin/);
      expect(['HEAD', 'GET']).toContain(r.method);
      expect([200, 206]).toContain(r.status);
    }
    expect(seen.at(-1)?.method).toBe('GET');
  });

  it('injects a 503 for a matching request, once', async () => {
    proxy.addFault({
      match: { method: 'GET', path: /\/faults\/blob\.bin/ },
      action: { status: 503, headers: { 'retry-after': '1' }, body: 'busy' },
    });
    const blob = service.getContainerClient('faults').getBlobClient('blob.bin');
    await expect(blob.getProperties()).resolves.toBeDefined(); // HEAD does not match the rule
    await expect(blob.download()).rejects.toMatchObject({ statusCode: 503 });
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'GET', status: 503 });
    const again = await blob.downloadToBuffer();
    expect(sha256(again)).toBe(sha256(data));
  });

  it('injects a 503 on an upload (the request body is drained, the client sees the status)', async () => {
    proxy.addFault({ match: { method: 'PUT' }, action: { status: 503 } });
    const big = service.getContainerClient('faults').getBlockBlobClient('upload.bin');
    await expect(big.uploadData(randomBytes(512 * 1024))).rejects.toMatchObject({ statusCode: 503 });
  });

  it('resets the connection before any reply', async () => {
    proxy.addFault({ match: { path: /\/faults\/blob\.bin/ }, action: { reset: 'before' } });
    const blob = service.getContainerClient('faults').getBlobClient('blob.bin');
    await expect(blob.getProperties()).rejects.toThrow();
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'HEAD', status: 0 });
  });

  it('cuts the response body after exactly N bytes', async () => {
    proxy.addFault({
      match: { method: 'GET', path: /\/faults\/blob\.bin/ },
      action: { reset: 'midBody', afterBytes: 100_000 },
    });
    // The container is public (access: 'blob'), so a plain fetch can read the body chunk by chunk.
    const res = await fetch(proxy.url + '/devstoreaccount1/faults/blob.bin');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    const reader = res.body!.getReader();
    let received = 0;
    const err = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          received += value.length;
        }
      } catch (e) {
        return e;
      }
    })();
    // undici reports the cut as "TypeError: terminated" (from another realm: no instanceof).
    expect(String(err)).toMatch(/terminated|other side closed|ECONNRESET/i);
    expect(received).toBe(100_000);
    // The next request passes again.
    const ok = await service.getContainerClient('faults').getBlobClient('blob.bin').downloadToBuffer();
    expect(sha256(ok)).toBe(sha256(data));
  });

  it('streams a large upload and download through without altering bytes', async () => {
    const large = randomBytes(64 * 1024 * 1024);
    const blob = service.getContainerClient('faults').getBlockBlobClient('large.bin');
    await blob.uploadData(large, { blockSize: 16 * 1024 * 1024, concurrency: 2 });
    const got = await blob.downloadToBuffer();
    expect(sha256(got)).toBe(sha256(large));
  });
});

describe('registry with htpasswd (Basic) auth', () => {
  let reg: LocalRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('listens on loopback and asks for Basic credentials', async () => {
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`http://${reg.host}`);
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
  });

  it('accepts the pusher and rejects a wrong password with 401', async () => {
    const ok = await fetch(`${reg.url}/v2/`, {
      headers: { authorization: basic(reg.username, reg.password) },
    });
    expect(ok.status).toBe(200);
    const bad = await fetch(`${reg.url}/v2/`, { headers: { authorization: basic(reg.username, 'wrong') } });
    expect(bad.status).toBe(401);
    const data = randomBytes(1000);
    expect(await pushBlob(reg, 'env/blob', basic(reg.username, 'wrong'), data)).toBe(401);
    expect(await pushBlob(reg, 'env/blob', basic(reg.username, reg.password), data)).toBe(201);
    const head = await fetch(`${reg.url}/v2/env/blob/blobs/sha256:${sha256(data)}`, {
      method: 'HEAD',
      headers: { authorization: basic(reg.username, reg.password) },
    });
    expect(head.status).toBe(200);
  });
  it('behind the fault proxy, builds upload Locations that point at the proxy', async () => {
    const proxy = await startFaultProxy(reg.url);
    try {
      const res = await fetch(`${proxy.url}/v2/env/proxied/blobs/uploads/`, {
        method: 'POST',
        headers: { authorization: basic(reg.username, reg.password) },
      });
      await res.arrayBuffer();
      expect(res.status).toBe(202);
      expect(new URL(res.headers.get('location')!, proxy.url).host).toBe(proxy.host);
      expect(proxy.requests).toEqual([
        {
          method: 'POST',
          path: '/v2/env/proxied/blobs/uploads/',
          status: 202,
          authorization: basic(reg.username, reg.password),
        },
      ]);
    } finally {
      await proxy.stop();
    }
  });
});

describe('registry with bearer-token auth (like GHCR)', () => {
  let reg: LocalRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('answers 401 with a Bearer challenge naming realm, service and scope', async () => {
    const res = await fetch(`${reg.url}/v2/env/app/manifests/latest`);
    expect(res.status).toBe(401);
    const challenge = bearerChallenge(res.headers.get('www-authenticate'));
    expect(challenge).toEqual({
      realm: reg.tokenService!.realm,
      service: reg.tokenService!.service,
      scope: 'repository:env/app:pull',
    });
    expect(new URL(challenge.realm!).hostname).toBe('127.0.0.1');
  });

  it('issues tokens (token and access_token) that let the pusher push', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull,push', reg);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; access_token: string };
    expect(body.access_token).toBe(body.token);
    const [header] = body.token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toMatchObject({
      alg: 'RS256',
      x5c: [expect.any(String)],
    });
    expect(await pushBlob(reg, 'env/app', `Bearer ${body.token}`, randomBytes(2000))).toBe(201);
    expect(reg.tokenService!.issued().at(-1)).toEqual({
      username: reg.username,
      scopes: ['repository:env/app:pull,push'],
      granted: ['repository:env/app:pull,push'],
    });
  });

  it('rejects a wrong password with 401 at the token service', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull,push', {
      username: reg.username,
      password: 'wrong',
    });
    expect(res.status).toBe(401);
  });

  it('gives the read-only user pull but not push', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull,push', reg.readOnly);
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(reg.tokenService!.issued().at(-1)?.granted).toEqual(['repository:env/app:pull']);
    const pull = await fetch(`${reg.url}/v2/env/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect([200, 404]).toContain(pull.status); // allowed; the repository may have no tags yet
    const push = await fetch(`${reg.url}/v2/env/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(push.status).toBe(401);
    expect(bearerChallenge(push.headers.get('www-authenticate')).error).toBe('insufficient_scope');
  });

  it('gives anonymous requests a token without access', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull');
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const pull = await fetch(`${reg.url}/v2/env/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(pull.status).toBe(401);
  });
});

describe('local base image', () => {
  let layoutDir: string;
  beforeAll(async () => {
    ({ layoutDir } = await ensureBaseImage());
  }, BUILD_TIMEOUT);

  it('is an OCI layout skopeo reads, with a linux/amd64 + linux/arm64 index', async () => {
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${layoutDir}:latest`]);
    const index = JSON.parse(stdout) as Index;
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}`)).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
    const { stdout: cfg } = await run('skopeo', ['inspect', '--config', `oci:${layoutDir}:latest`]);
    const config = JSON.parse(cfg) as { architecture: string; config: Record<string, unknown> };
    expect(config.architecture).toBe('amd64');
    expect(config.config).toMatchObject({
      Cmd: ['node'],
      WorkingDir: '/',
      Env: [expect.stringMatching(/^PATH=.*\/usr\/local\/bin/)],
    });
    expect(config.config.User).toBeUndefined();
  });

  it('has node, its libraries, a non-root node user, /tmp 1777 and /home/node', async () => {
    const { manifests } = await readLayout(layoutDir);
    for (const [platform, machine] of [
      ['linux/amd64', 'x86-64'],
      ['linux/arm64', 'aarch64'],
    ] as const) {
      const files = new Map();
      for (const layer of manifests[platform]!.layers) {
        for (const [k, v] of await layerFiles(blob(layoutDir, layer.digest))) files.set(k, v);
      }
      expect(elfOf(files.get('usr/local/bin/node').head)).toBe(machine);
      const triplet = machine === 'x86-64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
      const loader = machine === 'x86-64' ? 'lib64/ld-linux-x86-64.so.2' : 'lib/ld-linux-aarch64.so.1';
      for (const lib of [
        'libc.so.6',
        'libstdc++.so.6',
        'libgcc_s.so.1',
        'libm.so.6',
        'libpthread.so.0',
        'libdl.so.2',
        'librt.so.1',
      ]) {
        expect([platform, lib, elfOf(files.get(`lib/${triplet}/${lib}`)?.head ?? Buffer.alloc(0))]).toEqual([
          platform,
          lib,
          machine,
        ]);
      }
      expect(elfOf(files.get(loader).head)).toBe(machine);
      expect(files.get('etc/passwd').text).toMatch(/^node:x:1000:1000:[^:]*:\/home\/node:/m);
      expect(files.get('etc/group').text).toMatch(/^node:x:1000:/m);
      expect(files.get('tmp/').mode).toBe(0o1777);
      expect(files.get('home/node/')).toMatchObject({ type: 'directory', uid: 1000 });
    }
  });

  it(
    'is deterministic: two builds in different dirs give the same digests',
    async () => {
      const a = await makeTempDir('base-a');
      const b = await makeTempDir('base-b');
      try {
        const opts = {
          platforms: ['linux/amd64'],
          cacheDir: join(layoutDir, '..', 'base-image-src'),
          log: () => undefined,
        };
        const one = await buildBaseImage({ ...opts, outDir: join(a, 'layout') });
        const two = await buildBaseImage({ ...opts, outDir: join(b, 'layout') });
        expect(two.digest).toBe(one.digest);
        const cached = await readLayout(layoutDir);
        const built = await readLayout(join(a, 'layout'));
        expect(built.manifests['linux/amd64']).toEqual(cached.manifests['linux/amd64']);
      } finally {
        await removeDir(a);
        await removeDir(b);
      }
    },
    BUILD_TIMEOUT,
  );
});

describe.each(['none', 'htpasswd', 'token'] as const)('base image push to the %s registry', (auth) => {
  let reg: LocalRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth });
    await ensureBaseImage();
  }, BUILD_TIMEOUT);
  afterAll(async () => {
    await reg?.stop();
  });

  it('accepts the multi-platform index, which skopeo inspect --raw shows', async () => {
    const { layoutDir, digest } = await ensureBaseImage();
    const pushed = await pushBaseImage(reg, 'base/node', 'v1');
    expect(pushed).toEqual({ ref: `${reg.host}/base/node:v1`, digest });
    const creds =
      auth === 'none' ? ['--no-creds'] : ['--creds', `${reg.readOnly.username}:${reg.readOnly.password}`];
    const { stdout } = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      ...creds,
      `docker://${pushed.ref}`,
    ]);
    expect(JSON.parse(stdout)).toEqual((await readLayout(layoutDir)).index);
    expect(createHash('sha256').update(stdout).digest('hex')).toBe(digest.slice(7));
  });

  if (auth !== 'none') {
    it('rejects a push with a wrong password', async () => {
      await expect(pushBaseImage({ ...reg, password: 'wrong' }, 'base/node', 'bad')).rejects.toThrow(
        /401|unauthorized|authentication required|invalid username\/password/i,
      );
    });
  }

  if (auth === 'token') {
    it('does not let the read-only token user push', async () => {
      const { readOnly } = reg;
      await expect(pushBaseImage({ ...reg, ...readOnly }, 'base/node', 'ro')).rejects.toThrow(
        /unauthorized|denied|authentication required|insufficient/i,
      );
      expect(
        reg
          .tokenService!.issued()
          .filter((t) => t.username === readOnly.username)
          .flatMap((t) => t.granted),
      ).not.toContainEqual(expect.stringMatching(/push/));
    });
  }
});

describe('Docker engine', () => {
  let reg: LocalRegistry;
  let engine: DockerEngine;
  let ref: string;
  let digest: string;
  let login: DockerResult;
  let pull: DockerResult;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    ({ ref, digest } = await pushBaseImage(reg, 'base/node'));
    engine = await startDocker();
    // Login and pull here, asserted by the first test, so that each test can also run alone.
    login = await engine.docker(['login', reg.host, '--username', reg.username, '--password-stdin'], {
      input: reg.password,
    });
    pull = await engine.docker(['pull', ref]);
  }, BUILD_TIMEOUT);
  afterAll(async () => {
    await engine?.stop();
    await reg?.stop();
  });

  it('logs in to the htpasswd registry and pulls the pushed base image', async () => {
    expect(login).toMatchObject({ code: 0 });
    expect(login.stdout).toMatch(/Login Succeeded/);
    expect({ code: pull.code, stderr: pull.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pull.stdout).toContain(`Digest: ${digest}`);
    expect(pull.stdout).toMatch(/Downloaded newer image/);
  });

  it('runs node -e in it with --network host', async () => {
    const res = await engine.docker([
      'run',
      '--rm',
      '--network',
      'host',
      ref,
      'node',
      '-e',
      'console.log(process.version, process.arch, require("os").userInfo().uid)',
    ]);
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe(`${process.version} x64 0`);
  });

  it('runs as the node user with --user node, with a writable home and /tmp', async () => {
    const res = await engine.docker([
      'run',
      '--rm',
      '--network',
      'host',
      '--user',
      'node',
      ref,
      'node',
      '-e',
      'const os=require("os"),fs=require("fs");fs.writeFileSync("/tmp/t","x");fs.writeFileSync(os.homedir()+"/h","x");const u=os.userInfo();console.log(u.username,u.uid,u.gid,u.homedir)',
    ]);
    expect(res.stderr).toBe('');
    expect(res.stdout.trim()).toBe('node 1000 1000 /home/node');
  });

  it('has every library onnxruntime-node needs: a session runs the example model in it', async () => {
    const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
    const script = [
      'const ort = require("/app/node_modules/onnxruntime-node");',
      '(async () => {',
      '  const s = await ort.InferenceSession.create("/model/model.onnx");',
      '  const ids = new ort.Tensor("int64", BigInt64Array.from([0n, 100n, 2n]), [1, 3]);',
      '  const mask = new ort.Tensor("int64", BigInt64Array.from([1n, 1n, 1n]), [1, 3]);',
      '  const out = await s.run({ input_ids: ids, attention_mask: mask });',
      '  console.log(s.outputNames.join(","), out.logits.dims.join("x"));',
      '})().catch((e) => { console.error(e); process.exit(1); });',
    ].join('\n');
    const res = await engine.docker([
      'run',
      '--rm',
      '--network',
      'host',
      '--user',
      'node',
      // onnxruntime-node 1.30 would otherwise set up telemetry uploads (and warn: no CA bundle here).
      '-e',
      'ORT_DISABLE_TELEMETRY=1',
      '-v',
      `${join(repo, 'node_modules')}:/app/node_modules:ro`,
      '-v',
      `${join(repo, 'examples', 'sentiment')}:/model:ro`,
      ref,
      'node',
      '-e',
      script,
    ]);
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(res.stdout.trim()).toBe('logits 1x2');
  });

  it('pulls from the bearer-token registry too, as the read-only user', async () => {
    const tokenReg = await startRegistry({ auth: 'token' });
    try {
      const pushed = await pushBaseImage(tokenReg, 'base/node', 'v1');
      const ro = tokenReg.readOnly;
      const login = await engine.docker(
        ['login', tokenReg.host, '--username', ro.username, '--password-stdin'],
        {
          input: ro.password,
        },
      );
      expect(login).toMatchObject({ code: 0 });
      const pull = await engine.docker(['pull', pushed.ref]);
      expect({ code: pull.code, stderr: pull.stderr }).toEqual({ code: 0, stderr: '' });
      expect(pull.stdout).toContain(`Digest: ${pushed.digest}`);
      expect(tokenReg.tokenService!.issued()).toContainEqual({
        username: ro.username,
        scopes: ['repository:base/node:pull'],
        granted: ['repository:base/node:pull'],
      });
    } finally {
      await tokenReg.stop();
    }
  });

  it('does not pull without credentials (the registry requires them)', async () => {
    await engine.docker(['logout', reg.host]);
    await engine.docker(['rmi', ref]);
    const pull = await engine.docker(['pull', ref]);
    expect(pull.code).not.toBe(0);
    expect(pull.stderr).toMatch(/no basic auth credentials|unauthorized|authentication required/i);
  });
});

describe('missing Debian packages', () => {
  it('fail with an error naming the package to install', async () => {
    const path = process.env.PATH;
    process.env.PATH = ''; // docker-registry and skopeo live in /usr/bin
    try {
      await expect(startRegistry({ auth: 'none' })).rejects.toThrow(
        'docker-registry not found: apt-get install -y docker-registry (or run scripts/install-test-deps.sh)',
      );
      const reg = { host: '127.0.0.1:1', url: 'http://127.0.0.1:1', auth: 'none' } as LocalRegistry;
      await expect(pushBaseImage(reg, 'x')).rejects.toThrow(
        'skopeo not found: apt-get install -y skopeo (or run scripts/install-test-deps.sh)',
      );
    } finally {
      process.env.PATH = path;
    }
  });
});

/** PIDs whose command line mentions `text`. */
async function pidsMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmdline = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(e));
  }
  return pids;
}

/** False once `pid` has exited (a zombie waiting for init counts as exited); waits up to 20 s for it. */
async function stillRunning(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (!stat || stat.split(') ')[1]?.startsWith('Z')) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

describe.each(['exit', 'SIGTERM'] as const)('a test process that ends by %s without stop()', (how) => {
  it('leaves no service process, mount or temp dir behind', async () => {
    const dir = await makeTempDir('orphan-check');
    try {
      const envIndex = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), 'env', 'index.ts')).href;
      const script = join(dir, 'child.mts');
      await writeFile(
        script,
        `import { readdirSync, readFileSync } from 'node:fs';
import { startAzurite, startDocker, startRegistry } from ${JSON.stringify(envIndex)};
const reg = await startRegistry({ auth: 'token' });
const azurite = await startAzurite();
const docker = await startDocker();
const children = readdirSync('/proc').filter((e) => /^\\d+$/.test(e)).filter((e) => {
  try { return readFileSync('/proc/' + e + '/stat', 'utf8').split(') ')[1].split(' ')[1] === String(process.pid); } catch { return false; }
}).map(Number);
const dockerDir = docker.host.replace('unix://', '').replace(/\\/docker\\.sock$/, '');
console.log(JSON.stringify({ children, dirs: [dirname(reg.storageDir), dockerDir], ready: azurite.blobEndpoint }));
function dirname(p) { return p.slice(0, p.lastIndexOf('/')); }
${how === 'exit' ? 'process.exit(0);' : 'setInterval(() => undefined, 1000);'}
`,
      );
      const tsx = join(
        dirname(fileURLToPath(import.meta.url)),
        '..',
        'node_modules',
        'tsx',
        'dist',
        'cli.mjs',
      );
      const child = spawn(process.execPath, [tsx, script], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const report = await new Promise<{ children: number[]; dirs: string[] }>((resolve, reject) => {
        child.stdout.on('data', () => {
          const line = out.split('\n').find((l) => l.startsWith('{'));
          if (line) resolve(JSON.parse(line) as { children: number[]; dirs: string[] });
        });
        void exited.then(() => reject(new Error(`child exited early: ${err}`)));
      });
      expect(report.children.length).toBeGreaterThanOrEqual(3); // docker-registry, azurite, dockerd
      if (how === 'SIGTERM') child.kill('SIGTERM');
      await exited;
      for (const pid of report.children) expect([pid, await stillRunning(pid)]).toEqual([pid, false]);
      for (const d of report.dirs) {
        expect(await pidsMentioning(d)).toEqual([]);
        await expect(access(d)).rejects.toThrow();
        expect((await readFile('/proc/self/mountinfo', 'utf8')).includes(d)).toBe(false);
      }
    } finally {
      await removeDir(dir);
    }
  });
});
