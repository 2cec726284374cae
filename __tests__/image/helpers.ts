/**
 * Helpers for the image suites: a small synthetic base image written as an OCI (or Docker-typed)
 * layout, with any platforms and config, and a tiny model directory.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore } from '../../src/image/blobs.js';
import { writeLayer } from '../../src/image/layer.js';
import { familyTypes, type Family } from '../../src/image/oci.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `pom-image-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface SyntheticBaseOptions {
  platforms?: string[];
  family?: Family;
  config?: Record<string, unknown>;
}

/** Writes an OCI layout at `dir`: one small layer per platform, an index when several platforms. */
export async function syntheticBase(
  dir: string,
  opts: SyntheticBaseOptions = {},
): Promise<{ digest: string }> {
  const platforms = opts.platforms ?? ['linux/amd64', 'linux/arm64'];
  const types = familyTypes(opts.family ?? 'oci');
  const store = new BlobStore(dir);
  const src = join(dir, '..', `src-${Math.random().toString(36).slice(2)}`);
  const manifests = [];
  for (const p of platforms) {
    const [os, architecture] = p.split('/') as [string, string];
    await mkdir(join(src, p), { recursive: true });
    await writeFile(join(src, p, 'os-release'), `synthetic ${p}\n`);
    const layer = await writeLayer(
      store,
      [
        { path: 'etc', type: 'dir', mode: 0o755 },
        {
          path: 'etc/os-release',
          type: 'file',
          source: join(src, p, 'os-release'),
          size: `synthetic ${p}\n`.length,
          mode: 0o644,
        },
      ],
      { mediaType: types.layer },
    );
    const config = {
      architecture,
      os,
      created: '2024-01-02T03:04:05Z',
      config: {
        Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'NODE_VERSION=24.0.0'],
        Cmd: ['node'],
        ...opts.config,
      },
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: '2024-01-02T03:04:05Z', created_by: 'synthetic' }],
    };
    const c = await store.putBuffer(Buffer.from(JSON.stringify(config)));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: types.manifest,
        config: { mediaType: types.config, digest: c.digest, size: c.size },
        layers: [{ mediaType: types.layer, digest: layer.digest, size: layer.size }],
      }),
    );
    const m = await store.putBuffer(manifest);
    manifests.push({
      mediaType: types.manifest,
      digest: m.digest,
      size: m.size,
      platform: { os, architecture },
    });
  }
  await rm(src, { recursive: true, force: true });
  let top = manifests[0]!;
  if (manifests.length > 1) {
    const idx = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: types.index, manifests }));
    const i = await store.putBuffer(idx);
    top = { mediaType: types.index, digest: i.digest, size: i.size, platform: { os: '', architecture: '' } };
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.size }],
    }),
  );
  return { digest: top.digest };
}

/** A model dir with a fake .onnx of `size` pseudo-random bytes (seeded) and a config. */
export async function fakeModel(dir: string, size = 4096, seed = 1): Promise<string> {
  await mkdir(dir, { recursive: true });
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    buf[i] = x & 0xff;
  }
  await writeFile(join(dir, 'model.onnx'), buf);
  await writeFile(join(dir, 'config.json'), JSON.stringify({ id2label: { 0: 'negative', 1: 'positive' } }));
  return dir;
}

/** A fake staged runtime dir (no onnxruntime): enough for registry/assembly tests. */
export async function fakeRuntime(dir: string, platform: string): Promise<string> {
  await mkdir(join(dir, 'node_modules', 'onnxruntime-node'), { recursive: true });
  await writeFile(join(dir, 'index.js'), `console.log(${JSON.stringify(platform)});\n`);
  await writeFile(join(dir, 'package.json'), '{"type":"module"}\n');
  await writeFile(
    join(dir, 'node_modules', 'onnxruntime-node', 'package.json'),
    '{"name":"onnxruntime-node"}\n',
  );
  return dir;
}
