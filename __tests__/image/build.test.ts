/**
 * Offline builds against a synthetic base layout: deterministic layers, config assembly, entrypoint and
 * user handling, media-type families, platform selection, reproducible digests.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { chmod, copyFile, cp, mkdir, readFile, symlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { UserError } from '../../src/errors.js';
import { buildImage, type BuildOptions, type BuiltImage } from '../../src/image/index.js';
import { userFor } from '../../src/image/assemble.js';
import { MediaType } from '../../src/image/oci.js';
import { silentLogger } from '../../src/util/log.js';
import { fakeModel, fakeRuntime, syntheticBase, tempDir } from './helpers.js';

interface TarFile {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  type: string;
  data: Buffer;
}

async function untar(buf: Buffer): Promise<TarFile[]> {
  const out: TarFile[] = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      const h = e.header;
      out.push({
        name: h.name,
        mode: h.mode ?? 0,
        uid: h.uid ?? -1,
        gid: h.gid ?? -1,
        mtime: h.mtime?.getTime() ?? -1,
        type: h.type ?? '',
        data: Buffer.concat(chunks),
      });
    }
  })();
  ex.end(buf);
  await done;
  return out;
}

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  platform: { os: string; architecture: string };
}

const run = promisify(execFile);
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let root: { dir: string; cleanup: () => Promise<void> };
let common: Omit<BuildOptions, 'output'>;

beforeAll(async () => {
  root = await tempDir('build');
  await syntheticBase(join(root.dir, 'base'));
  await syntheticBase(join(root.dir, 'distroless'), {
    platforms: ['linux/amd64'],
    config: { Entrypoint: ['/nodejs/bin/node'], Cmd: null, User: '65532' },
  });
  await syntheticBase(join(root.dir, 'slim'), {
    platforms: ['linux/amd64'],
    family: 'docker',
    config: { Entrypoint: ['docker-entrypoint.sh'], Cmd: ['node'], User: 'root' },
  });
  common = {
    base: { image: `oci-layout:${join(root.dir, 'base')}`, platforms: ['linux/amd64', 'linux/arm64'] },
    server: {
      runtime: {
        'linux/amd64': await fakeRuntime(join(root.dir, 'rt-amd64'), 'linux/amd64'),
        'linux/arm64': await fakeRuntime(join(root.dir, 'rt-arm64'), 'linux/arm64'),
      },
      env: { WORKERS: '2' },
      port: 8080,
    },
    model: {
      dir: await fakeModel(join(root.dir, 'model'), 100_000),
      name: 'sentiment',
      version: '3',
      sha256: 'f'.repeat(64),
      source: 'azureml://registries/r/models/sentiment/versions/3',
    },
    metadata: {
      labels: { 'org.opencontainers.image.title': 'custom title', team: 'ml' },
      source: 'https://github.com/o/r',
      revision: 'abc123',
    },
    logger: silentLogger,
  };
});
afterAll(async () => root.cleanup());

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON, asserted field by field
type Json = Record<string, any>;
const configOf = async (img: BuiltImage, i = 0): Promise<Json> =>
  JSON.parse(img.platforms[i]!.config.toString()) as Json;

describe('buildImage (offline, OCI layout base)', () => {
  let img: BuiltImage;
  beforeAll(async () => {
    img = await buildImage({ ...common, output: { workDir: join(root.dir, 'w1') } });
  });

  it('writes an index with one manifest per platform, each base layers + runtime + model', async () => {
    expect(img.mediaType).toBe(MediaType.ociIndex);
    const index = JSON.parse(img.bytes.toString());
    expect(index.manifests.map((m: Desc) => `${m.platform.os}/${m.platform.architecture}`)).toEqual([
      'linux/amd64',
      'linux/arm64',
    ]);
    expect(img.digest).toBe(sha(img.bytes));
    for (const p of img.platforms) {
      const m = JSON.parse(p.manifest.toString());
      expect(m.layers).toHaveLength(3);
      expect(m.layers.every((l: Desc) => l.mediaType === MediaType.ociLayerGzip)).toBe(true);
      expect(m.annotations['org.opencontainers.image.revision']).toBe('abc123');
      expect(p.digest).toBe(sha(p.manifest));
      expect(p.size).toBe(
        p.manifest.length + p.config.length + m.layers.reduce((a: number, l: Desc) => a + l.size, 0),
      );
    }
    // the model layer is shared, runtime layers differ per platform
    const [a, b] = img.platforms.map((p) => JSON.parse(p.manifest.toString()).layers);
    expect(a[2].digest).toBe(b[2].digest);
    expect(a[1].digest).not.toBe(b[1].digest);
  });

  it('layers are deterministic tars: sorted, mtime 0, root-owned, 0444 files / 0555 dirs, fixed gzip header', async () => {
    const m = JSON.parse(img.platforms[0]!.manifest.toString());
    const cfg = await configOf(img);
    for (const [i, l] of [m.layers[1], m.layers[2]].entries()) {
      const gz = await readFile(img.store.path(l.digest));
      expect(sha(gz)).toBe(l.digest);
      expect(gz.length).toBe(l.size);
      expect(gz[9]).toBe(0xff);
      expect(gz.readUInt32LE(4)).toBe(0); // gzip mtime
      const raw = gunzipSync(gz);
      expect(sha(raw)).toBe(cfg.rootfs.diff_ids[i + 1]);
      const files = await untar(raw);
      const names = files.map((f) => f.name);
      expect(names).toEqual([...names].sort());
      for (const f of files) {
        expect([f.uid, f.gid, f.mtime]).toEqual([0, 0, 0]);
        expect(f.mode).toBe(f.type === 'directory' ? 0o555 : 0o444);
      }
    }
    const model = await untar(gunzipSync(await readFile(img.store.path(m.layers[2].digest))));
    expect(model.map((f) => f.name)).toEqual([
      'app/',
      'app/model/',
      'app/model/config.json',
      'app/model/model.onnx',
    ]);
    expect(model[3]!.data.equals(await readFile(join(common.model.dir, 'model.onnx')))).toBe(true);
    const runtime = await untar(gunzipSync(await readFile(img.store.path(m.layers[1].digest))));
    expect(runtime.map((f) => f.name)).toContain('app/server/index.js');
  });

  it('config: diff_ids and history extended, entrypoint node + server, env, port, workdir, non-root user, labels', async () => {
    const cfg = await configOf(img);
    expect(cfg.rootfs.diff_ids).toHaveLength(3);
    expect(cfg.history).toHaveLength(3);
    expect(cfg.created).toBe('2024-01-02T03:04:05Z'); // the base's, without SOURCE_DATE_EPOCH
    expect(cfg.architecture).toBe('amd64');
    const c = cfg.config;
    expect(c.Entrypoint).toEqual(['node', '/app/server/index.js']);
    expect(c.Cmd).toBeUndefined();
    expect(c.WorkingDir).toBe('/app');
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {} });
    expect(c.User).toBe('65532:65532');
    expect(c.Env).toEqual(
      expect.arrayContaining([
        'PATH=/usr/local/bin:/usr/bin:/bin',
        'MODEL_DIR=/app/model',
        'PORT=8080',
        'WORKERS=2',
        'NODE_ENV=production',
      ]),
    );
    expect(c.Labels).toMatchObject({
      'org.opencontainers.image.title': 'custom title',
      'org.opencontainers.image.version': '3',
      'org.opencontainers.image.source': 'https://github.com/o/r',
      'org.opencontainers.image.base.name': common.base.image,
      'io.github.package-onnx-model.model.sha256': 'f'.repeat(64),
      'io.github.package-onnx-model.model.source': common.model.source,
      team: 'ml',
    });
    expect(c.Labels['org.opencontainers.image.base.digest']).toMatch(/^sha256:/);
  });

  it('the same inputs in another work dir give the same digests; SOURCE_DATE_EPOCH changes them', async () => {
    const again = await buildImage({ ...common, output: { workDir: join(root.dir, 'w2') } });
    expect(again.digest).toBe(img.digest);
    expect(again.platforms.map((p) => p.digest)).toEqual(img.platforms.map((p) => p.digest));
    const dated = await buildImage({
      ...common,
      metadata: { ...common.metadata, sourceDateEpoch: 1700000000 },
      output: { workDir: join(root.dir, 'w3') },
    });
    expect(dated.digest).not.toBe(img.digest);
    const cfg = await configOf(dated);
    expect(cfg.created).toBe('2023-11-14T22:13:20Z');
    expect(cfg.config.Labels['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20Z');
  });

  it('an OCI archive base (oci-archive:PATH) gives the same image as its layout', async () => {
    const archive = join(root.dir, 'base.tar');
    await run('tar', ['-C', join(root.dir, 'base'), '-cf', archive, '.']);
    const fromArchive = await buildImage({
      ...common,
      base: { ...common.base, image: `oci-archive:${archive}` },
      output: { workDir: join(root.dir, 'w-arch') },
    });
    expect(fromArchive.platforms.map((p) => p.layers)).toEqual(img.platforms.map((p) => p.layers));
    const cfg = await configOf(fromArchive);
    expect(cfg.config.Labels['org.opencontainers.image.base.name']).toBe(`oci-archive:${archive}`);
  });

  it('symlinked model files (a Hugging Face snapshot) are stored as their content', async () => {
    const snap = join(root.dir, 'snapshot');
    await mkdir(join(snap, 'blobs'), { recursive: true });
    await mkdir(join(snap, 'model'));
    await copyFile(join(common.model.dir, 'model.onnx'), join(snap, 'blobs', 'abc'));
    await symlink(join(snap, 'blobs', 'abc'), join(snap, 'model', 'model.onnx'));
    const linked = await buildImage({
      ...common,
      model: { ...common.model, dir: join(snap, 'model') },
      output: { workDir: join(root.dir, 'w-link') },
    });
    const m = JSON.parse(linked.platforms[0]!.manifest.toString());
    const files = await untar(gunzipSync(await readFile(linked.store.path(m.layers[2].digest))));
    const onnx = files.find((f) => f.name === 'app/model/model.onnx')!;
    expect(onnx.type).toBe('file');
    expect(onnx.data.equals(await readFile(join(common.model.dir, 'model.onnx')))).toBe(true);
  });

  it('model files are read-only (0444) even when executable on disk, folders 0555', async () => {
    const exe = join(root.dir, 'model-exec');
    await cp(common.model.dir, exe, { recursive: true });
    await mkdir(join(exe, 'tokenizer'), { mode: 0o777 });
    await copyFile(join(exe, 'config.json'), join(exe, 'tokenizer', 'vocab.json'));
    await chmod(join(exe, 'model.onnx'), 0o755);
    await chmod(join(exe, 'tokenizer', 'vocab.json'), 0o777);
    const built = await buildImage({
      ...common,
      model: { ...common.model, dir: exe },
      output: { workDir: join(root.dir, 'w-exec') },
    });
    const m = JSON.parse(built.platforms[0]!.manifest.toString());
    const files = await untar(gunzipSync(await readFile(built.store.path(m.layers[2].digest))));
    expect(files.map((f) => [f.name, f.mode.toString(8)])).toEqual([
      ['app/', '555'],
      ['app/model/', '555'],
      ['app/model/config.json', '444'],
      ['app/model/model.onnx', '444'],
      ['app/model/tokenizer/', '555'],
      ['app/model/tokenizer/vocab.json', '444'],
    ]);
  });

  it('one platform gives a single manifest, no index', async () => {
    const one = await buildImage({
      ...common,
      base: { ...common.base, platforms: ['linux/arm64'] },
      output: { workDir: join(root.dir, 'w4') },
    });
    expect(one.mediaType).toBe(MediaType.ociManifest);
    expect(one.digest).toBe(one.platforms[0]!.digest);
    expect(one.platforms[0]!.digest).toBe(img.platforms[1]!.digest);
  });

  it('a platform the base lacks is a UserError naming the platforms it has', async () => {
    const err = await buildImage({
      ...common,
      base: { ...common.base, platforms: ['linux/s390x'] },
      output: { workDir: join(root.dir, 'w5') },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain('linux/amd64, linux/arm64');
  });
});

describe('entrypoint and media types follow the base', () => {
  it('distroless (Entrypoint node): keeps its node binary and numeric non-root user', async () => {
    const img = await buildImage({
      ...common,
      base: { image: `oci-layout:${join(root.dir, 'distroless')}`, platforms: ['linux/amd64'] },
      output: { workDir: join(root.dir, 'w6') },
    });
    const c = (await configOf(img)).config;
    expect(c.Entrypoint).toEqual(['/nodejs/bin/node', '/app/server/index.js']);
    expect(c.User).toBe('65532:65532');
    expect(c.Cmd).toBeUndefined();
  });

  it('node:*-slim (docker-entrypoint.sh, Docker media types, root): node from PATH, Docker types, no annotations', async () => {
    const img = await buildImage({
      ...common,
      base: { image: `oci-layout:${join(root.dir, 'slim')}`, platforms: ['linux/amd64'] },
      output: { workDir: join(root.dir, 'w7') },
    });
    const c = (await configOf(img)).config;
    expect(c.Entrypoint).toEqual(['node', '/app/server/index.js']);
    expect(c.User).toBe('65532:65532');
    const m = JSON.parse(img.platforms[0]!.manifest.toString());
    expect(m.mediaType).toBe(MediaType.dockerManifest);
    expect(m.config.mediaType).toBe(MediaType.dockerConfig);
    expect(m.layers.map((l: Desc) => l.mediaType)).toEqual(Array(3).fill(MediaType.dockerLayerGzip));
    expect(m.annotations).toBeUndefined();
  });
});

describe('the image user', () => {
  it.each<[string | undefined, string]>([
    [undefined, '65532:65532'],
    ['', '65532:65532'],
    ['root', '65532:65532'],
    ['0', '65532:65532'],
    ['0:0', '65532:65532'],
    ['0:1000', '65532:65532'],
    ['nonroot', '65532:65532'],
    ['node', '65532:65532'],
    ['65532', '65532:65532'], // distroless :nonroot
    ['1000', '1000:1000'],
    ['1000:0', '1000:1000'],
    ['1000:staff', '1000:1000'],
    ['1000:2000', '1000:2000'],
  ])('base User %p runs as %p: a numeric non-root uid and gid', (user, expected) => {
    expect(userFor(user === undefined ? {} : { User: user })).toBe(expected);
  });
});
