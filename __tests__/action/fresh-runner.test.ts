/**
 * A fresh runner (the action's checkout without node_modules, an empty tool cache) packaging a new
 * model version into a registry (Debian's docker-registry) that holds the previous one: the runtime
 * layers come from the registry, verified against the diff_ids the action ships
 * (server-template/runtime-layers.json), and the npm registry (a loopback one, fakes/npm.ts) is not
 * contacted; only the host's runtime is unpacked (the others are verified and hashed as they stream,
 * for the SBOM); a tampered runtime blob or stale shipped diff_ids fall back to npm, and the pushed
 * image holds the genuine runtime. Runs the bundle (dist/cli/index.js): `npm run bundle` first.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { appendFile, copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { RegistryClient, bufferBlobSource } from '../../src/image/registry.js';
import { fileDigest, sha256 } from '../../src/image/blobs.js';
import { hostPlatform } from '../../src/runtime/index.js';
import { silentLogger } from '../../src/util/log.js';
import { pushBaseImage, startRegistry, type LocalRegistry } from '../env/index.js';
import { startFakeNpm, type FakeNpm } from '../fakes/npm.js';
import { benchTransformer } from '../fixtures/models.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const BOTH = 'linux/amd64,linux/arm64';

let reg: LocalRegistry;
let npm: FakeNpm;
let work: string;
let checkout: string;
let models: { v1: string; v2: string };

/** What a `uses:` step checks out: the bundles and server-template, no node_modules. */
async function makeCheckout(dir: string): Promise<string> {
  await mkdir(join(dir, 'server-template'), { recursive: true });
  await cp(join(ROOT, 'dist'), join(dir, 'dist'), { recursive: true });
  await cp(join(ROOT, 'server-template', 'dist'), join(dir, 'server-template', 'dist'), { recursive: true });
  for (const f of ['package.json', 'runtime-layers.json'])
    await copyFile(join(ROOT, 'server-template', f), join(dir, 'server-template', f));
  await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
  // The loopback npm registry's tarballs are packed here, not the public ones: no lock integrity.
  await writeFile(join(dir, 'package-lock.json'), '{}');
  return dir;
}

interface CliRun {
  code: number;
  out: string;
  err: string;
  /** From "Pushed ...: N blobs uploaded, M mounted, K already present". */
  uploaded: number;
  platformDigests: Record<string, string>;
  /** The SBOM's onnxruntime-node native files: platform -> path -> sha256 (hex). */
  sbomNative: Record<string, Record<string, string>>;
  /** The runtime layers unpacked into the tool cache (diff_id hex of each). */
  unpacked: string[];
}

interface BomComponent {
  name: string;
  hashes?: { alg: string; content: string }[];
  properties?: { name: string; value: string }[];
  components?: BomComponent[];
}

/** Every file component of a CycloneDX BOM that names a platform: platform -> path -> sha256. */
function nativeFilesOf(bom: { components?: BomComponent[] }): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  const walk = (cs: BomComponent[] = []): void => {
    for (const c of cs) {
      const platform = c.properties?.find((p) => p.name.endsWith('platform'))?.value;
      const hash = c.hashes?.find((h) => h.alg === 'SHA-256')?.content;
      if (platform && hash) (out[platform] ??= {})[c.name] = hash;
      walk(c.components);
    }
  };
  walk(bom.components);
  return out;
}

/** Packages `model` to `repo` with the checkout's CLI, a new tool cache and home each time. */
async function packageWith(from: string, model: string, repo: string, extra: string[] = []): Promise<CliRun> {
  const home = await mkdtemp(join(work, 'home-'));
  const r = await run(
    process.execPath,
    [
      join(from, 'dist', 'cli', 'index.js'),
      ...['--model', model, '--image', `${reg.host}/${repo}`, '--base-image', `${reg.host}/base/node:latest`],
      ...['--platforms', BOTH, '--smoke-test', 'process'],
      ...extra,
    ],
    {
      cwd: from,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        RUNNER_TEMP: home,
        RUNNER_TOOL_CACHE: join(home, 'tool-cache'),
        npm_config_registry: npm.url,
      },
      timeout: 240_000,
    },
  ).then(
    (x) => ({ code: 0, out: x.stdout, err: x.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({
      code: e.code ?? 1,
      out: e.stdout ?? '',
      err: e.stderr ?? '',
    }),
  );
  const sbomPath = /^sbom=(.+)$/m.exec(r.out)?.[1];
  const sbomNative = sbomPath ? nativeFilesOf(JSON.parse(await readFile(sbomPath, 'utf8'))) : {};
  const layers = join(home, 'tool-cache', 'package-onnx-model', 'runtime-layer');
  const unpacked = (await readdir(layers).catch(() => [] as string[])).filter((n) =>
    /^[a-f0-9]{64}$/.test(n),
  );
  await rm(home, { recursive: true, force: true });
  return {
    ...r,
    sbomNative,
    unpacked,
    uploaded: Number(/Pushed \S+: (\d+) blobs uploaded/.exec(r.out)?.[1] ?? NaN),
    platformDigests: JSON.parse(/^platform-digests=(.*)$/m.exec(r.out)?.[1] ?? '{}') as Record<
      string,
      string
    >,
  };
}

const client = () => new RegistryClient({ registry: reg.host, logger: silentLogger });

/** The runtime layer (the one below the model layer) of each platform manifest. */
async function runtimeLayers(repo: string, digests: Record<string, string>): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [p, d] of Object.entries(digests)) {
    const m = JSON.parse((await client().getManifest(repo, d)).bytes.toString()) as {
      layers: { digest: string }[];
    };
    out[p] = m.layers.at(-2)!.digest;
  }
  return out;
}

/** The genuine onnxruntime-node native files of a platform (the repository's node_modules): path -> sha256. */
async function genuineNative(platform: string): Promise<Record<string, string>> {
  const ort = join(ROOT, 'node_modules', 'onnxruntime-node');
  const dir = `bin/napi-v6/linux/${platform === 'linux/amd64' ? 'x64' : 'arm64'}`;
  const out: Record<string, string> = {};
  for (const e of await readdir(join(ort, dir), { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const rel = join(e.parentPath, e.name).slice(ort.length + 1);
    out[rel] = (await fileDigest(join(ort, rel))).digest.slice('sha256:'.length);
  }
  return out;
}

/** The diff_id (hex) the action ships for each platform's runtime layer. */
async function shippedDiffIds(): Promise<Record<string, string>> {
  const f = JSON.parse(await readFile(join(ROOT, 'server-template', 'runtime-layers.json'), 'utf8')) as {
    layers: Record<string, { diffId: string }>;
  };
  return Object.fromEntries(Object.entries(f.layers).map(([p, l]) => [p, l.diffId.slice('sha256:'.length)]));
}

const ortDownloads = () => npm.requests.filter((r) => r.includes('onnxruntime-node')).length;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pom-fresh-'));
  reg = await startRegistry({ auth: 'none' });
  await pushBaseImage(reg, 'base/node', 'latest');
  npm = await startFakeNpm();
  checkout = await makeCheckout(join(work, 'checkout'));
  models = {
    v1: await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 1 }),
    v2: await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 2 }),
  };
}, 600_000);

afterAll(async () => {
  await npm?.close();
  await reg?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('a fresh runner, the registry holding the previous version', () => {
  it('takes the runtime layers from the registry, verified: npm is never contacted, no runtime byte is uploaded, a re-run uploads 0 blobs', async () => {
    const v1 = await packageWith(checkout, models.v1, 'team/fresh');
    expect({ code: v1.code, err: v1.err }).toEqual({ code: 0, err: '' });
    expect(ortDownloads()).toBeGreaterThan(0); // a new repository: staged from npm

    npm.requests.length = 0;
    const v2 = await packageWith(checkout, models.v2, 'team/fresh');
    expect({ code: v2.code, err: v2.err }).toEqual({ code: 0, err: '' });
    expect(npm.requests).toEqual([]);
    expect(v2.out).toMatch(/Server runtime for linux\/amd64: layer \w+ of .*team\/fresh, verified/);
    expect(v2.out).toMatch(/Server runtime for linux\/arm64: layer \w+ of .*team\/fresh, verified/);
    // The process smoke test ran on the runtime unpacked from the registry's layer.
    expect(v2.out).toMatch(/^smoke-test=.*"process"/m);
    // Uploaded: the model layer and the two configs; the runtime layers are the earlier image's.
    expect(v2.uploaded).toBe(3);
    expect(await runtimeLayers('team/fresh', v2.platformDigests)).toEqual(
      await runtimeLayers('team/fresh', v1.platformDigests),
    );
    // Only the host's runtime was unpacked (the smoke test runs it); the other platform's layer was
    // verified and hashed as it streamed, and the SBOM lists its native files with their true digests,
    // as it did when v1 staged both platforms from npm.
    const host = hostPlatform();
    const other = host === 'linux/amd64' ? 'linux/arm64' : 'linux/amd64';
    expect(v2.out).toMatch(new RegExp(`Server runtime for ${other}: .*referenced, not unpacked`));
    expect(v2.unpacked).toEqual([(await shippedDiffIds())[host]]);
    expect(v2.sbomNative[other]).toEqual(await genuineNative(other));
    expect(v2.sbomNative[host]).toEqual(await genuineNative(host));
    expect(v2.sbomNative).toEqual(v1.sbomNative);

    const again = await packageWith(checkout, models.v2, 'team/fresh');
    expect({ code: again.code, uploaded: again.uploaded }).toEqual({ code: 0, uploaded: 0 });
    expect(again.platformDigests).toEqual(v2.platformDigests);
    expect(npm.requests).toEqual([]);
  }, 600_000);

  /**
   * Someone with push access swaps `platform`'s runtime layer of the image under 'latest' for their own
   * blob (the config, and so the diff_id the image claims, left as it was) and moves 'latest' to the
   * rewritten index. Returns the swapped-in blob's digest.
   */
  async function tamper(repo: string, platform: string, digests: Record<string, string>): Promise<string> {
    const c = client();
    const evil = gzipSync(Buffer.concat([Buffer.from('not the runtime'), Buffer.alloc(1024)]));
    const evilDigest = sha256(evil);
    await c.pushBlob(repo, bufferBlobSource(evil));
    const digest = digests[platform]!;
    const m = JSON.parse((await c.getManifest(repo, digest)).bytes.toString()) as {
      mediaType: string;
      layers: { mediaType: string; digest: string; size: number }[];
    };
    m.layers[m.layers.length - 2] = { ...m.layers.at(-2)!, digest: evilDigest, size: evil.length };
    const bytes = Buffer.from(JSON.stringify(m));
    await c.putManifest(repo, sha256(bytes), bytes, m.mediaType);
    const top = await c.getManifest(repo, 'latest');
    const index = JSON.parse(top.bytes.toString()) as { manifests: { digest: string; size: number }[] };
    const entry = index.manifests.find((x) => x.digest === digest)!;
    Object.assign(entry, { digest: sha256(bytes), size: bytes.length });
    await c.putManifest(repo, 'latest', Buffer.from(JSON.stringify(index)), top.mediaType!);
    return evilDigest;
  }

  it('a tampered runtime blob is never referenced: that platform is staged from npm and the run succeeds', async () => {
    const repo = 'team/tampered';
    const v1 = await packageWith(checkout, models.v1, repo);
    expect(v1.code).toBe(0);
    const genuine = await runtimeLayers(repo, v1.platformDigests);
    const evilDigest = await tamper(repo, 'linux/amd64', v1.platformDigests);

    npm.requests.length = 0;
    const v2 = await packageWith(checkout, models.v2, repo);
    expect(v2.code).toBe(0);
    expect(v2.err).toContain(`${repo}@${evilDigest} does not decompress to the content its image claims`);
    expect(ortDownloads()).toBeGreaterThan(0);
    expect(v2.out).toMatch(/Server runtime for linux\/arm64: layer \w+ of .*team\/tampered, verified/);
    // The genuine runtime, built again (the same bytes), and the swapped blob in no manifest.
    expect(await runtimeLayers(repo, v2.platformDigests)).toEqual(genuine);
  }, 600_000);

  it('a tampered blob of the platform only verified (not unpacked, not the host) is never referenced nor described: staged from npm, the SBOM lists the genuine files', async () => {
    const repo = 'team/tampered-other';
    const other = hostPlatform() === 'linux/amd64' ? 'linux/arm64' : 'linux/amd64';
    const v1 = await packageWith(checkout, models.v1, repo);
    expect(v1.code).toBe(0);
    const genuine = await runtimeLayers(repo, v1.platformDigests);
    const evilDigest = await tamper(repo, other, v1.platformDigests);

    npm.requests.length = 0;
    const v2 = await packageWith(checkout, models.v2, repo);
    expect(v2.code).toBe(0);
    expect(v2.err).toContain(`${repo}@${evilDigest} does not decompress to the content its image claims`);
    expect(ortDownloads()).toBeGreaterThan(0);
    expect(v2.out).not.toContain(`Server runtime for ${other}: layer`);
    expect(await runtimeLayers(repo, v2.platformDigests)).toEqual(genuine);
    expect(v2.sbomNative[other]).toEqual(await genuineNative(other));
  }, 600_000);

  it('a smoke test that fails on the runtime from the registry pushes nothing (the other platform still being verified)', async () => {
    const repo = 'team/failing';
    const v1 = await packageWith(checkout, models.v1, repo);
    expect(v1.code).toBe(0);
    const latest = await client().headManifest(repo, 'latest');
    const v2 = await packageWith(checkout, models.v2, repo, [
      ...['--smoke-test-input', '["I love this"]', '--smoke-test-expect', 'NO_SUCH_LABEL'],
      ...['--tags', 'v2,latest'],
    ]);
    expect(v2.code).not.toBe(0);
    expect(v2.err).toMatch(
      /Smoke test \(process\) predicted .* but 'smoke-test-expect' is \[NO_SUCH_LABEL\]; nothing was pushed/,
    );
    expect(await client().headManifest(repo, 'latest')).toBe(latest);
    expect(await client().headManifest(repo, 'v2')).toBeUndefined();
  }, 600_000);

  it('stale shipped diff_ids (another server bundle) are reported and not used; the image holds the bundle present', async () => {
    const repo = 'team/stale';
    const v1 = await packageWith(checkout, models.v1, repo);
    expect(v1.code).toBe(0);
    const stale = await makeCheckout(join(work, 'checkout-stale'));
    await appendFile(join(stale, 'server-template', 'dist', 'index.js'), '\n// changed after bundling\n');
    npm.requests.length = 0;
    const v2 = await packageWith(stale, models.v2, repo);
    expect(v2.code).toBe(0);
    expect(v2.err).toMatch(
      /shipped runtime layer digests .* was made from another server bundle: they are ignored .*Fix: Run `npm run bundle`/,
    );
    expect(ortDownloads()).toBeGreaterThan(0);
    expect(v2.out).not.toContain('Server runtime for linux/amd64: layer');
    const before = await runtimeLayers(repo, v1.platformDigests);
    const after = await runtimeLayers(repo, v2.platformDigests);
    for (const p of ['linux/amd64', 'linux/arm64']) expect(after[p]).not.toBe(before[p]);
  }, 600_000);
});

describe('scripts/runtime-layers.ts --check (run by check-dist in CI)', () => {
  const check = (file: string) =>
    run(process.execPath, ['--import', 'tsx', 'scripts/runtime-layers.ts', '--check', '--file', file], {
      cwd: ROOT,
      timeout: 240_000,
    }).then(
      (r) => ({ code: 0, out: r.stdout, err: r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? 1,
        out: e.stdout ?? '',
        err: e.stderr ?? '',
      }),
    );

  it('passes on the committed file and fails, naming the fix, on a stale one', async () => {
    const committed = join(ROOT, 'server-template', 'runtime-layers.json');
    expect(await check(committed)).toMatchObject({ code: 0 });
    const staleFile = join(work, 'stale-runtime-layers.json');
    const f = JSON.parse(await readFile(committed, 'utf8')) as {
      layers: Record<string, { diffId: string }>;
    };
    f.layers['linux/amd64']!.diffId = `sha256:${'0'.repeat(64)}`;
    await writeFile(staleFile, `${JSON.stringify(f, null, 2)}\n`);
    const r = await check(staleFile);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/runtime-layers\.json is stale.*Fix: Run 'npm run bundle'/);
  }, 300_000);
});
