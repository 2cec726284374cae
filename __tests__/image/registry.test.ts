/**
 * Pushing to real registries (Debian docker-registry with htpasswd and with bearer-token auth), through a
 * fault proxy that counts requests and injects failures; read back with skopeo and the registry API.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { UserError } from '../../src/errors.js';
import {
  buildImage,
  parseImageReference,
  pushImage,
  writeOciArchive,
  RegistryClient,
  type BuildOptions,
  type BuiltImage,
} from '../../src/image/index.js';
import { BlobStore, fileDigest, sha256 } from '../../src/image/blobs.js';
import { entriesFromDir, writeLayer } from '../../src/image/layer.js';
import { bufferBlobSource, lazyBlobSource } from '../../src/image/registry.js';
import { stageRuntime } from '../../src/runtime/index.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import {
  pushBaseImage,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type LocalRegistry,
} from '../env/index.js';
import { fakeModel, fakeRuntime, tempDir } from './helpers.js';

const run = promisify(execFile);
const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'sentiment');
const fastRetry = { baseDelayMs: 20, maxDelayMs: 200 };

async function skopeo(args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', ['--insecure-policy', ...args], { maxBuffer: 64 << 20 });
  return stdout;
}

/** Registry API GET with Basic credentials (htpasswd registry). */
async function apiGet(reg: LocalRegistry, path: string): Promise<Response> {
  const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
  return fetch(`${reg.url}${path}`, {
    headers: {
      authorization: `Basic ${auth}`,
      accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
}

async function tagsOf(reg: LocalRegistry, repo: string): Promise<string[]> {
  const res = await apiGet(reg, `/v2/${repo}/tags/list`);
  if (res.status === 404) return [];
  return ((await res.json()) as { tags?: string[] | null }).tags ?? [];
}

const capture = (): Logger & { lines: string[]; secrets: string[] } => {
  const lines: string[] = [];
  const secrets: string[] = [];
  return {
    lines,
    secrets,
    info: (m) => lines.push(m),
    warning: (m) => lines.push(m),
    debug: (m) => lines.push(m),
    secret: (s) => secrets.push(s),
  };
};

let root: { dir: string; cleanup: () => Promise<void> };
let reg: LocalRegistry;
let proxy: FaultProxy;
let runtime: Record<string, string>;
let fakeRt: Record<string, string>;
let common: Omit<BuildOptions, 'output' | 'base'>;
const platforms = ['linux/amd64', 'linux/arm64'];
let img: BuiltImage;
let first: Awaited<ReturnType<typeof pushImage>>;
const creds = () => ({ username: reg.username, password: reg.password });

beforeAll(async () => {
  root = await tempDir('registry');
  reg = await startRegistry({ auth: 'htpasswd' });
  proxy = await startFaultProxy(reg.url);
  await pushBaseImage(reg, 'base/node', 'latest');
  const cacheDir = join(root.dir, 'cache');
  runtime = {
    'linux/amd64': (await stageRuntime('linux/amd64', { logger: silentLogger, cacheDir })).dir,
    'linux/arm64': (await stageRuntime('linux/arm64', { logger: silentLogger, cacheDir })).dir,
  };
  fakeRt = {
    'linux/amd64': await fakeRuntime(join(root.dir, 'frt-amd64'), 'linux/amd64'),
    'linux/arm64': await fakeRuntime(join(root.dir, 'frt-arm64'), 'linux/arm64'),
  };
  common = {
    server: { runtime, env: {}, port: 8080 },
    model: {
      dir: EXAMPLE,
      name: 'sentiment',
      version: '1',
      sha256: 'a'.repeat(64),
      source: 'azureml:sentiment:1',
    },
    metadata: { labels: {} },
    registries: { registryAuth: creds(), pushRegistry: proxy.host },
    logger: silentLogger,
  };
  // The base lives on the same registry (reached through the proxy): push credentials serve it.
  img = await buildImage({
    ...common,
    base: { image: `${proxy.host}/base/node:latest`, platforms },
    output: { workDir: join(root.dir, 'w-main') },
  });
  proxy.requests.length = 0;
  first = await pushImage(img, parseImageReference(`${proxy.host}/Team/Sentiment`), ['1', 'latest'], {
    credentials: creds(),
    logger: silentLogger,
  });
}, 300_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  await root?.cleanup();
});

describe('push to an htpasswd registry', () => {
  it('mounts the base layers, uploads ours, tags last, and the registry serves the index', async () => {
    expect(first.digest).toBe(img.digest);
    expect(first.tags).toEqual(['1', 'latest']);
    expect(first.platformDigests).toEqual({
      'linux/amd64': img.platforms[0]!.digest,
      'linux/arm64': img.platforms[1]!.digest,
    });
    expect(first.blobsMounted).toBeGreaterThan(0);
    expect(first.blobsUploaded).toBe(5); // 2 runtime layers, 1 model layer, 2 configs
    const mountPosts = proxy.requests.filter((r) => r.method === 'POST' && r.path.includes('mount='));
    expect(mountPosts.length).toBe(first.blobsMounted);
    expect(mountPosts.every((r) => r.status === 201)).toBe(true);
    // the platforms' manifests (side by side, so in either order), then the index, then the tags
    const puts = proxy.requests.filter((r) => r.method === 'PUT' && r.path.includes('/manifests/'));
    const putRefs = puts.map((r) => r.path.split('/manifests/')[1]);
    expect([...putRefs.slice(0, 2)].sort()).toEqual(
      [img.platforms[0]!.digest, img.platforms[1]!.digest].sort(),
    );
    expect(putRefs.slice(2)).toEqual([img.digest, '1', 'latest']);
    const lastBlob = Math.max(...proxy.requests.map((r, i) => (r.path.includes('/blobs/') ? i : -1)));
    const firstManifest = proxy.requests.findIndex(
      (r) => r.method === 'PUT' && r.path.includes('/manifests/'),
    );
    expect(lastBlob).toBeLessThan(firstManifest);
    const res = await apiGet(reg, '/v2/team/sentiment/manifests/latest');
    expect(res.headers.get('docker-content-digest')).toBe(img.digest);
    expect((await tagsOf(reg, 'team/sentiment')).sort()).toEqual(['1', 'latest']);
  });

  it('skopeo inspects the pushed image (labels, platform) and copies it with digest verification', async () => {
    const credArgs = ['--tls-verify=false', '--creds', `${reg.username}:${reg.password}`];
    const info = JSON.parse(
      await skopeo([
        'inspect',
        ...credArgs,
        '--override-arch',
        'arm64',
        `docker://${reg.host}/team/sentiment:1`,
      ]),
    );
    expect(info.Architecture).toBe('arm64');
    expect(info.Labels['io.github.package-onnx-model.model.name']).toBe('sentiment');
    expect(info.Labels['org.opencontainers.image.base.name']).toBe(`${proxy.host}/base/node:latest`);
    const out = join(root.dir, 'copied');
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--src-creds',
      `${reg.username}:${reg.password}`,
      `docker://${reg.host}/team/sentiment:1`,
      `oci:${out}:x`,
    ]);
    expect((await readdir(join(out, 'blobs', 'sha256'))).length).toBeGreaterThanOrEqual(img.blobs.size + 3);
  });

  it("the arm64 image's runtime layer carries aarch64 binaries only", async () => {
    const client = new RegistryClient({ registry: reg.host, credentials: creds(), logger: silentLogger });
    const manifest = JSON.parse(
      (await client.getManifest('team/sentiment', first.platformDigests['linux/arm64']!)).bytes.toString(),
    );
    const runtimeLayer = manifest.layers[manifest.layers.length - 2];
    const blob = gunzipSync(await client.readBlob('team/sentiment', runtimeLayer.digest));
    const ex = tar.extract();
    const machines: Record<string, number> = {};
    const reading = (async () => {
      for await (const e of ex) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        const b = Buffer.concat(chunks);
        if (b.subarray(0, 4).toString('latin1') === '\x7fELF') machines[e.header.name] = b.readUInt16LE(18);
      }
    })();
    ex.end(blob);
    await reading;
    expect(Object.keys(machines).sort()).toEqual([
      'app/server/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1',
      'app/server/node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node',
    ]);
    expect(Object.values(machines).every((m) => m === 183)).toBe(true);
  });

  it('a second push uploads nothing: HEADs and manifest PUTs only', async () => {
    proxy.requests.length = 0;
    const again = await pushImage(img, parseImageReference(`${proxy.host}/team/sentiment`), ['1', 'latest'], {
      credentials: creds(),
      logger: silentLogger,
    });
    expect(again.digest).toBe(first.digest);
    expect(again.blobsUploaded).toBe(0);
    expect(again.blobsMounted).toBe(0);
    expect(again.blobsSkipped).toBe(img.blobs.size);
    expect(
      proxy.requests.filter(
        (r) => ['POST', 'PATCH'].includes(r.method) || (r.method === 'PUT' && r.path.includes('/blobs/')),
      ),
    ).toEqual([]);
    expect(again.bytesUploaded).toBe(
      img.bytes.length * 3 + img.platforms.reduce((a, p) => a + p.manifest.length, 0),
    );
  });

  it('a rebuild in another work dir gives the same digests', async () => {
    const again = await buildImage({
      ...common,
      base: { image: `${proxy.host}/base/node:latest`, platforms },
      output: { workDir: join(root.dir, 'w-again') },
    });
    expect(again.digest).toBe(img.digest);
  });

  it('a new model version reuses the runtime layers of the earlier image instead of compressing them', async () => {
    const log = capture();
    const opts = {
      ...common,
      model: { ...common.model, dir: await fakeModel(join(root.dir, 'model-v2'), 50_000, 3), version: '2' },
      base: { image: `${proxy.host}/base/node:latest`, platforms },
    };
    const v2 = await buildImage({
      ...opts,
      reuse: { from: [`${proxy.host}/team/sentiment:latest`] },
      output: { workDir: join(root.dir, 'w-v2') },
      logger: log,
    });
    expect(log.lines.join('\n')).toContain('2 reused from earlier images');
    const runtimeOf = (i: BuiltImage) => i.platforms.map((p) => p.layers[p.layers.length - 2]!.digest);
    expect(runtimeOf(v2)).toEqual(runtimeOf(img));
    for (const d of runtimeOf(v2)) expect(v2.blobs.get(d)!.location.kind).toBe('registry');
    // the same compressor: reuse gives the digest a full build gives
    const full = await buildImage({ ...opts, output: { workDir: join(root.dir, 'w-v2-full') } });
    expect(v2.digest).toBe(full.digest);
    proxy.requests.length = 0;
    const res = await pushImage(v2, parseImageReference(`${proxy.host}/team/sentiment`), ['2', 'latest'], {
      credentials: creds(),
      logger: silentLogger,
    });
    expect(res.blobsUploaded).toBe(3); // model layer + 2 configs
    // reused layers are fetched (digest-verified) when a file output needs them
    const archive = join(root.dir, 'v2.tar');
    await writeOciArchive(v2, archive, ['2']);
    await skopeo(['copy', '--all', `oci-archive:${archive}:2`, `oci:${join(root.dir, 'v2-copy')}:2`]);
  });

  it('a reusable layer whose blob is gone from the registry is built instead', async () => {
    await pushImage(img, parseImageReference(`${proxy.host}/team/gc`), ['1'], {
      credentials: creds(),
      logger: silentLogger,
    });
    const arm = img.platforms[1]!.layers.at(-2)!.digest;
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    const del = await fetch(`${reg.url}/v2/team/gc/blobs/${arm}`, {
      method: 'DELETE',
      headers: { authorization: `Basic ${auth}` },
    });
    expect(del.status).toBe(202);
    const log = capture();
    const again = await buildImage({
      ...common,
      base: { image: `${proxy.host}/base/node:latest`, platforms },
      reuse: { from: [`${proxy.host}/team/gc:1`] },
      output: { workDir: join(root.dir, 'w-gc') },
      logger: log,
    });
    expect(log.lines.join('\n')).toContain('2 reused from earlier images'); // amd64 runtime + model, not arm64
    expect(again.blobs.get(arm)!.location.kind).toBe('file');
    expect(again.digest).toBe(img.digest);
    const res = await pushImage(again, parseImageReference(`${proxy.host}/team/gc`), ['2'], {
      credentials: creds(),
      logger: silentLogger,
    });
    expect(res.blobsUploaded).toBe(1);
  });

  it('a tampered layer (other bytes under the same claimed diff_id) is never referenced by a new image', async () => {
    const repo = 'team/tampered';
    await pushImage(img, parseImageReference(`${proxy.host}/${repo}`), ['1'], {
      credentials: creds(),
      logger: silentLogger,
    });
    // Someone with push access swaps the arm64 runtime layer (never run on this amd64 machine) for
    // their own blob and rewrites the arm64 manifest and the index; the config, and so the diff_id
    // the image claims for that layer, is left as it was.
    const arm = img.platforms[1]!;
    const evilStore = new BlobStore(join(root.dir, 'evil'));
    const evilRt = await fakeRuntime(join(root.dir, 'evil-rt'), 'linux/arm64');
    const runtimeDesc = arm.layers.at(-2)!;
    const evil = await writeLayer(evilStore, await entriesFromDir(evilRt, 'app/server'), {
      mediaType: runtimeDesc.mediaType,
    });
    const attacker = new RegistryClient({ registry: proxy.host, credentials: creds(), logger: silentLogger });
    expect(
      await attacker.pushBlob(
        repo,
        lazyBlobSource(async () => evil.path, evil.digest, evil.size),
      ),
    ).toBe('uploaded');
    const manifest = JSON.parse(arm.manifest.toString());
    manifest.layers[manifest.layers.length - 2] = {
      mediaType: runtimeDesc.mediaType,
      digest: evil.digest,
      size: evil.size,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    await attacker.putManifest(repo, sha256(manifestBytes), manifestBytes, arm.mediaType);
    const index = JSON.parse(img.bytes.toString());
    index.manifests[1] = { ...index.manifests[1], digest: sha256(manifestBytes), size: manifestBytes.length };
    await attacker.putManifest(repo, '1', Buffer.from(JSON.stringify(index)), img.mediaType);

    const log = capture();
    const again = await buildImage({
      ...common,
      base: { image: `${proxy.host}/base/node:latest`, platforms },
      reuse: { from: [`${proxy.host}/${repo}:1`] },
      output: { workDir: join(root.dir, 'w-tampered') },
      logger: log,
    });
    // The genuine image: the tampered blob is in no manifest and no output; the swap is reported.
    expect(again.digest).toBe(img.digest);
    expect(again.platforms[1]!.layers.map((l) => l.digest)).toEqual(arm.layers.map((l) => l.digest));
    expect(again.blobs.has(evil.digest)).toBe(false);
    const text = log.lines.join('\n');
    expect(text).toContain('2 reused from earlier images'); // amd64 runtime + model, verified
    expect(text).toContain(`${repo}@${evil.digest} does not decompress to the content its image claims`);
    await pushImage(again, parseImageReference(`${proxy.host}/${repo}`), ['2'], {
      credentials: creds(),
      logger: silentLogger,
    });
    const pushedArm = await attacker.getManifest(repo, arm.digest);
    expect(pushedArm.bytes.toString()).not.toContain(evil.digest);
  });

  it('writes an OCI archive that skopeo reads and copies', async () => {
    const archive = join(root.dir, 'image.tar');
    await writeOciArchive(img, archive, [`${reg.host}/team/sentiment:1`]);
    const raw = JSON.parse(await skopeo(['inspect', '--raw', `oci-archive:${archive}:1`]));
    expect(raw.manifests).toHaveLength(2);
    const info = JSON.parse(
      await skopeo(['inspect', '--override-arch', 'amd64', `oci-archive:${archive}:1`]),
    );
    expect(info.Digest).toBe(img.digest); // skopeo reports the index digest
    expect(info.Architecture).toBe('amd64');
    await skopeo(['copy', '--all', `oci-archive:${archive}:1`, `oci:${join(root.dir, 'from-archive')}:1`]);
  });

  it('wrong password: the named credentials error, and the password never reaches the log', async () => {
    const log = capture();
    const err = await pushImage(img, parseImageReference(`${reg.host}/team/other`), ['1'], {
      credentials: { username: reg.username, password: 'wrong-password' },
      logger: log,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(`credentials rejected by ${reg.host} for team/other`);
    expect(log.secrets).toContain('wrong-password');
    expect(log.lines.join('\n')).not.toContain('wrong-password');
  });

  it('a missing base names the reference', async () => {
    const err = await buildImage({
      ...common,
      base: { image: `${reg.host}/base/node:nope`, platforms },
      registries: { ...common.registries, pushRegistry: reg.host },
      output: { workDir: join(root.dir, 'w-missing') },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(`Base image ${reg.host}/base/node:nope not found`);
  });

  it('a platform the registry base lacks names the ones it has', async () => {
    const err = await buildImage({
      ...common,
      base: { image: `${reg.host}/base/node:latest`, platforms: ['linux/ppc64le'] },
      registries: { ...common.registries, pushRegistry: reg.host },
      output: { workDir: join(root.dir, 'w-plat') },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toMatch(/has no linux\/ppc64le image; it has: linux\/amd64, linux\/arm64/);
  });
});

describe('failures during upload', () => {
  const build = async (name: string, seed: number, size = 200_000) =>
    buildImage({
      ...common,
      server: { ...common.server, runtime: fakeRt },
      model: { ...common.model, dir: await fakeModel(join(root.dir, `model-${name}`), size, seed) },
      base: { image: `${proxy.host}/base/node:latest`, platforms },
      output: { workDir: join(root.dir, `w-${name}`) },
    });

  it('429 (Retry-After), 500 and connection resets mid-upload are retried', async () => {
    const image = await build('faults', 7);
    proxy.requests.length = 0;
    proxy.addFault({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      action: { status: 429, headers: { 'retry-after': '0' } },
    });
    proxy.addFault({ match: { method: 'PUT', path: /\/blobs\/uploads\// }, action: { status: 500 } });
    proxy.addFault({ match: { method: 'PUT', path: /\/blobs\/uploads\// }, action: { reset: 'before' } });
    proxy.addFault({ match: { method: 'PUT', path: /\/manifests\// }, action: { status: 503 } });
    const res = await pushImage(image, parseImageReference(`${proxy.host}/team/faults`), ['1'], {
      credentials: creds(),
      logger: silentLogger,
      retry: fastRetry,
    });
    proxy.clearFaults();
    const statuses = proxy.requests.map((r) => r.status);
    expect(statuses).toEqual(expect.arrayContaining([429, 500, 0, 503]));
    expect(res.tags).toEqual(['1']);
    // what the registry holds is complete and verified by skopeo
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--src-creds',
      `${reg.username}:${reg.password}`,
      `docker://${reg.host}/team/faults:1`,
      `oci:${join(root.dir, 'faults-copy')}:1`,
    ]);
  });

  it('a push failing midway leaves no tag in the registry', async () => {
    const image = await build('midway', 8);
    proxy.addFault({
      match: { method: 'PUT', path: /\/blobs\/uploads\// },
      times: 1000,
      action: { status: 500 },
    });
    const err = await pushImage(image, parseImageReference(`${proxy.host}/team/midway`), ['1', 'latest'], {
      credentials: creds(),
      logger: silentLogger,
      retry: { attempts: 2, baseDelayMs: 10 },
    }).catch((e: unknown) => e);
    proxy.clearFaults();
    expect(err).toBeInstanceOf(Error);
    expect(await tagsOf(reg, 'team/midway')).toEqual([]);
    expect(proxy.requests.some((r) => r.path.startsWith('/v2/team/midway/manifests/'))).toBe(false);
  });

  it('large blobs go up in PATCH chunks, following relative Locations (as GHCR sends), and verify', async () => {
    const image = await build('chunked', 9, 3_000_000);
    proxy.requests.length = 0;
    // docker-registry sends absolute Locations; make them relative, as GHCR and others do.
    let relative = 0;
    const relativeLocations: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      const loc = res.headers.get('location');
      if (!loc?.startsWith('http')) return res;
      relative++;
      const headers = new Headers(res.headers);
      const u = new URL(loc);
      headers.set('location', u.pathname + u.search);
      return new Response(res.body, { status: res.status, headers });
    };
    const lines: string[] = [];
    const res = await pushImage(image, parseImageReference(`${proxy.host}/team/chunked`), ['1'], {
      credentials: creds(),
      fetch: relativeLocations,
      logger: { ...silentLogger, info: (m) => lines.push(m) },
      monolithicLimit: 1_000_000,
      chunkSize: 700_000,
      progressIntervalMs: 1,
    });
    expect(res.blobsUploaded).toBeGreaterThan(0);
    // Progress lines while the chunks go up, with the bytes sent so far.
    const progress = lines.filter((l) => l.startsWith(`Uploading to ${proxy.host}/team/chunked: `));
    expect(progress.some((l) => /: [1-9][\d.]* (KB|MB) sent, /.test(l))).toBe(true);
    expect(relative).toBeGreaterThanOrEqual(5);
    expect(
      proxy.requests.filter((r) => r.method === 'PATCH' && r.status === 202).length,
    ).toBeGreaterThanOrEqual(5);
    await skopeo([
      'copy',
      '--all',
      '--src-tls-verify=false',
      '--src-creds',
      `${reg.username}:${reg.password}`,
      `docker://${reg.host}/team/chunked:1`,
      `oci:${join(root.dir, 'chunked-copy')}:1`,
    ]);
  });
});

describe('pulls', () => {
  it('a blob read cut mid-body is retried and the stored bytes verify', async () => {
    const client = new RegistryClient({
      registry: proxy.host,
      credentials: creds(),
      logger: silentLogger,
      retry: fastRetry,
    });
    const runtime = img.platforms[0]!.layers.at(-2)!;
    const store = new BlobStore(join(root.dir, 'pulled'));
    proxy.requests.length = 0;
    proxy.addFault({
      match: { method: 'GET', path: /\/blobs\/sha256:/ },
      action: { reset: 'midBody', afterBytes: 100_000 },
    });
    proxy.addFault({ match: { method: 'GET', path: /\/blobs\/sha256:/ }, action: { status: 503 } });
    await client.fetchBlob('team/sentiment', runtime.digest, store);
    proxy.clearFaults();
    expect(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).length).toBe(3);
    expect(await fileDigest(store.path(runtime.digest))).toEqual({
      digest: runtime.digest,
      size: runtime.size,
    });
  });
});

describe('cross-repository mount', () => {
  it('falls back to an upload when the source repository lacks the blob (registry answers 202)', async () => {
    const client = new RegistryClient({ registry: proxy.host, credentials: creds(), logger: silentLogger });
    const blob = bufferBlobSource(Buffer.from(`not in base/node ${Date.now()}`));
    proxy.requests.length = 0;
    expect(await client.pushBlob('team/mount-fallback', blob, 'base/node')).toBe('uploaded');
    const mount = proxy.requests.find((r) => r.method === 'POST' && r.path.includes('mount='))!;
    expect(mount.status).toBe(202);
    expect(await client.hasBlob('team/mount-fallback', blob.digest)).toBe(true);
  });
});

describe('redirects', () => {
  let storage: Server;
  let seen: IncomingHttpHeaders[] = [];
  afterAll(async () => new Promise<void>((r) => storage.close(() => r())));

  it('a blob redirect to storage is followed without the Authorization header, and the bytes are verified', async () => {
    const config = img.platforms[0]!;
    let body = config.config;
    storage = createServer((req, res) => {
      seen.push(req.headers);
      res.end(body);
    });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(storage.address() as AddressInfo).port}/storage/blob?sig=1`;
    const client = new RegistryClient({
      registry: proxy.host,
      credentials: creds(),
      logger: silentLogger,
      retry: { attempts: 1 },
    });
    proxy.addFault({
      match: { method: 'GET', path: /\/blobs\/sha256:/ },
      action: { status: 307, headers: { location: url } },
    });
    const bytes = await client.readBlob('team/sentiment', config.configDigest);
    expect(bytes.equals(config.config)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.authorization).toBeUndefined();
    // altered bytes from storage fail the digest check
    seen = [];
    body = Buffer.concat([config.config, Buffer.from(' ')]);
    proxy.addFault({
      match: { method: 'GET', path: /\/blobs\/sha256:/ },
      action: { status: 307, headers: { location: url } },
    });
    await expect(client.readBlob('team/sentiment', config.configDigest)).rejects.toThrow(/digest mismatch/);
    proxy.clearFaults();
  });

  it('a redirect to a non-http scheme is refused', async () => {
    const client = new RegistryClient({
      registry: proxy.host,
      credentials: creds(),
      logger: silentLogger,
      retry: { attempts: 1 },
    });
    proxy.addFault({
      match: { method: 'GET', path: /\/blobs\/sha256:/ },
      action: { status: 307, headers: { location: 'file:///etc/passwd' } },
    });
    await expect(client.readBlob('team/sentiment', img.platforms[0]!.configDigest)).rejects.toThrow(
      /only http and https/,
    );
    proxy.clearFaults();
  });
});

describe('push to a bearer-token registry', () => {
  let treg: LocalRegistry;
  beforeAll(async () => {
    treg = await startRegistry({ auth: 'token' });
    await pushBaseImage(treg, 'base/node', 'latest');
  }, 120_000);
  afterAll(async () => treg?.stop());

  it('pushes with a token for push + pull on the target and pull on the mount source; tokens are masked', async () => {
    const log = capture();
    const image = await buildImage({
      ...common,
      server: { ...common.server, runtime: fakeRt },
      base: { image: `${treg.host}/base/node:latest`, platforms },
      registries: {
        pushRegistry: treg.host,
        registryAuth: { username: treg.username, password: treg.password },
      },
      output: { workDir: join(root.dir, 'w-token') },
      logger: log,
    });
    const res = await pushImage(image, parseImageReference(`${treg.host}/team/sentiment`), ['1'], {
      credentials: { username: treg.username, password: treg.password },
      logger: log,
    });
    expect(res.blobsMounted).toBeGreaterThan(0);
    const issued = treg.tokenService!.issued();
    expect(
      issued.some(
        (t) =>
          t.scopes.includes('repository:team/sentiment:pull,push') &&
          t.scopes.includes('repository:base/node:pull'),
      ),
    ).toBe(true);
    expect(log.secrets).toContain(treg.password);
    expect(log.secrets.length).toBeGreaterThan(2); // password, basic header, tokens
    const again = await pushImage(image, parseImageReference(`${treg.host}/team/sentiment`), ['1'], {
      credentials: { username: treg.username, password: treg.password },
      logger: silentLogger,
    });
    expect(again.blobsUploaded + again.blobsMounted).toBe(0);
  });

  it('a pull-only user gets the missing-push-permission error', async () => {
    const image = await buildImage({
      ...common,
      server: { ...common.server, runtime: fakeRt },
      base: { image: `${treg.host}/base/node:latest`, platforms },
      registries: { pushRegistry: treg.host, registryAuth: treg.readOnly },
      output: { workDir: join(root.dir, 'w-ro') },
    });
    // Count requests in flight: when the push fails, no upload may keep running (or retrying).
    let inFlight = 0;
    let posts = 0;
    const counting: typeof fetch = async (input, init) => {
      inFlight++;
      if (init?.method === 'POST') posts++;
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const err = await pushImage(image, parseImageReference(`${treg.host}/team/readonly`), ['1'], {
      credentials: treg.readOnly,
      fetch: counting,
      logger: silentLogger,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(`${treg.host} denied push access to team/readonly`);
    expect(inFlight).toBe(0);
    expect(posts).toBeLessThanOrEqual(3 * 2); // at most the 3 concurrent uploads, each re-authenticated once
  });

  it('a wrong password is rejected by the token service with the named error', async () => {
    const err = await buildImage({
      ...common,
      server: { ...common.server, runtime: fakeRt },
      base: { image: `${treg.host}/base/node:latest`, platforms },
      registries: { pushRegistry: treg.host, registryAuth: { username: treg.username, password: 'nope' } },
      output: { workDir: join(root.dir, 'w-badtoken') },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(`credentials rejected by ${treg.host} for base/node`);
  });

  it('an anonymous pull of a private base asks for credentials', async () => {
    const err = await buildImage({
      ...common,
      server: { ...common.server, runtime: fakeRt },
      base: { image: `${treg.host}/base/node:latest`, platforms },
      registries: { pushRegistry: 'elsewhere.example', registryAuth: undefined },
      output: { workDir: join(root.dir, 'w-anon') },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(`${treg.host} requires credentials for base/node`);
  });
});
