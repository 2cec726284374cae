/**
 * Runtime staging: from the repository's node_modules and from an npm registry (a loopback server
 * serving real onnxruntime tarballs packed from node_modules), with integrity checks and caching.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../../src/errors.js';
import { defaultNpmRegistry } from '../../src/runtime/npm.js';
import { stageRuntime, stagedFiles } from '../../src/runtime/index.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import { sriOf, startFakeNpm, type FakeNpm } from '../fakes/npm.js';
import { tempDir } from './helpers.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');

/** ELF e_machine: 62 = x86-64, 183 = AArch64. */
async function elfMachine(path: string): Promise<number> {
  const b = await readFile(path);
  expect(b.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return b.readUInt16LE(18);
}

/** A logger that keeps its warnings. */
const warnings = (): Logger & { warned: string[] } => {
  const warned: string[] = [];
  return { ...silentLogger, warned, warning: (m: string) => warned.push(m) };
};

/** Every staged file's sha256, by path (bytes compared through digests: jest diffs buffers slowly). */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of await stagedFiles(dir))
    out[f] = createHash('sha256')
      .update(await readFile(join(dir, f)))
      .digest('hex');
  return out;
}

/**
 * Replaces a file with other bytes. Staged files are hard links to their source (node_modules, the
 * server bundle): writing through one would alter the source too, which is not the cache's to guard.
 */
async function replaceFile(path: string, data: string): Promise<void> {
  await rm(path);
  await writeFile(path, data);
}

let root: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  root = await tempDir('runtime');
});
afterAll(async () => root.cleanup());

describe('stageRuntime from the repository node_modules', () => {
  it('stages per platform: the server bundle, onnxruntime-node with only that arch, onnxruntime-common', async () => {
    const cacheDir = join(root.dir, 'cache-local');
    const amd = await stageRuntime('linux/amd64', { logger: silentLogger, cacheDir });
    const arm = await stageRuntime('linux/arm64', { logger: silentLogger, cacheDir });
    expect(amd.source).toBe('node_modules');
    expect(amd.ortVersion).toBe('1.30.0');
    const amdFiles = await stagedFiles(amd.dir);
    const armFiles = await stagedFiles(arm.dir);
    expect(amdFiles).toContain('index.js');
    expect(amdFiles).toContain('package.json');
    expect(amdFiles).toContain('node_modules/onnxruntime-common/dist/cjs/index.js');
    expect(amdFiles).toContain('node_modules/onnxruntime-common/dist/esm/index.js');
    const bins = (files: string[]) => files.filter((f) => f.includes('/bin/'));
    expect(bins(amdFiles)).toEqual([
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    ]);
    expect(bins(armFiles)).toEqual([
      'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/libonnxruntime.so.1',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/arm64/onnxruntime_binding.node',
    ]);
    expect(await elfMachine(join(amd.dir, bins(amdFiles)[1]!))).toBe(62);
    for (const f of bins(armFiles)) expect(await elfMachine(join(arm.dir, f))).toBe(183);
    // install-time dependencies are not staged
    expect(amdFiles.some((f) => /adm-zip|global-agent|\/script\//.test(f))).toBe(false);
    const pkg = JSON.parse(await readFile(join(amd.dir, 'package.json'), 'utf8'));
    expect(pkg.type).toBe('module');
    // staging again reuses the same directory
    expect((await stageRuntime('linux/amd64', { logger: silentLogger, cacheDir })).dir).toBe(amd.dir);
  });

  it('the staged host runtime loads onnxruntime-node and runs the example model with nothing else', async () => {
    const amd = await stageRuntime('linux/amd64', {
      logger: silentLogger,
      cacheDir: join(root.dir, 'cache-local'),
    });
    const script = `const ort = require('onnxruntime-node');
      ort.InferenceSession.create(process.argv[1]).then((s) => console.log(JSON.stringify(s.inputNames)));`;
    const { stdout } = await run(
      process.execPath,
      ['-e', script, join(ROOT, 'examples', 'sentiment', 'model.onnx')],
      {
        cwd: amd.dir,
        env: { PATH: process.env.PATH ?? '', NODE_PATH: '' },
      },
    );
    expect(JSON.parse(stdout)).toContain('input_ids');
  });

  it('a cached runtime with a changed, missing or extra file is detected, warned about and staged again', async () => {
    const cacheDir = join(root.dir, 'cache-tamper');
    const first = await stageRuntime('linux/amd64', { logger: silentLogger, cacheDir });
    const genuine = await snapshot(first.dir);
    const binary = 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1';
    const tampers: Array<[string, () => Promise<void>, RegExp]> = [
      [
        'changed',
        () => replaceFile(join(first.dir, 'index.js'), 'process.stdout.write("owned")\n'),
        /has index\.js changed/,
      ],
      ['missing', () => rm(join(first.dir, ...binary.split('/'))), /misses .*libonnxruntime\.so\.1/],
      [
        'extra',
        () => writeFile(join(first.dir, 'node_modules', 'onnxruntime-node', 'dist', 'preload.js'), 'x'),
        /not staged with: node_modules\/onnxruntime-node\/dist\/preload\.js/,
      ],
    ];
    for (const [, tamper, message] of tampers) {
      await tamper();
      const log = warnings();
      const again = await stageRuntime('linux/amd64', { logger: log, cacheDir });
      expect(again.dir).toBe(first.dir);
      expect(log.warned).toHaveLength(1);
      expect(log.warned[0]).toMatch(message);
      expect(log.warned[0]).toContain('staging it again');
      expect(await snapshot(again.dir)).toEqual(genuine);
    }
    // An intact cache is reused silently.
    const log = warnings();
    await stageRuntime('linux/amd64', { logger: log, cacheDir });
    expect(log.warned).toEqual([]);
  });

  it('rejects a platform onnxruntime-node has no binaries for', async () => {
    await expect(
      stageRuntime('linux/s390x', { logger: silentLogger, cacheDir: join(root.dir, 'c') }),
    ).rejects.toThrow(UserError);
  });
});

describe('npm registry choice', () => {
  it('honours npm_config_registry (a mirror), else the public registry', () => {
    expect(defaultNpmRegistry({ npm_config_registry: 'https://mirror.example/npm/' })).toBe(
      'https://mirror.example/npm',
    );
    expect(defaultNpmRegistry({})).toBe('https://registry.npmjs.org');
  });
});

describe('stageRuntime from the npm registry (no node_modules, as on a runner)', () => {
  let npm: FakeNpm;
  let registry: string;
  let requests: string[];
  let repo: string;

  beforeAll(async () => {
    npm = await startFakeNpm();
    registry = npm.url;
    requests = npm.requests;
    // An action checkout: server-template/{dist,package.json}, no node_modules.
    repo = join(root.dir, 'checkout');
    await mkdir(join(repo, 'server-template'), { recursive: true });
    await cp(join(ROOT, 'server-template', 'dist'), join(repo, 'server-template', 'dist'), {
      recursive: true,
    });
    await cp(join(ROOT, 'server-template', 'package.json'), join(repo, 'server-template', 'package.json'));
  });
  afterAll(async () => npm.close());

  const opts = (cacheDir: string) => ({
    logger: silentLogger,
    cacheDir,
    serverDir: join(repo, 'server-template', 'dist'),
    npmRegistry: registry,
    useLocalNodeModules: false,
  });

  it('downloads, verifies, extracts and caches; the result equals staging from node_modules', async () => {
    const cacheDir = join(root.dir, 'cache-npm');
    const amd = await stageRuntime('linux/amd64', opts(cacheDir));
    expect(amd.source).toBe('npm');
    const tgz = requests.filter((r) => r.endsWith('.tgz'));
    expect(tgz).toHaveLength(2);
    const local = await stageRuntime('linux/amd64', {
      logger: silentLogger,
      cacheDir: join(root.dir, 'cache-cmp'),
    });
    const files = await stagedFiles(amd.dir);
    expect(files).toEqual(await stagedFiles(local.dir));
    for (const f of files.filter((x) => x.includes('node_modules'))) {
      expect((await readFile(join(amd.dir, f))).equals(await readFile(join(local.dir, f)))).toBe(true);
    }
    // arm64 comes from the same cached download
    const arm = await stageRuntime('linux/arm64', opts(cacheDir));
    expect((await stagedFiles(arm.dir)).filter((f) => f.includes('/bin/'))).toHaveLength(2);
    expect(requests.filter((r) => r.endsWith('.tgz'))).toHaveLength(2);
  });

  it('a tampered npm package in the cache is downloaded again, and the staged runtime restaged from it', async () => {
    const cacheDir = join(root.dir, 'cache-npm-tamper');
    const first = await stageRuntime('linux/amd64', opts(cacheDir));
    const genuine = await snapshot(first.dir);
    const downloads = () => requests.filter((r) => r.endsWith('/onnxruntime-node-1.30.0.tgz')).length;
    const before = downloads();
    // Written in place: the staged runtime's hard link to it changes too.
    const cachedIndex = join(cacheDir, 'npm', 'onnxruntime-node@1.30.0', 'dist', 'index.js');
    await writeFile(cachedIndex, 'module.exports = { owned: true };\n');
    const log = warnings();
    const again = await stageRuntime('linux/amd64', { ...opts(cacheDir), logger: log });
    expect(downloads()).toBe(before + 1);
    expect(log.warned).toEqual([
      expect.stringMatching(
        /cached npm package .*onnxruntime-node@1\.30\.0 has dist\/index\.js changed.*downloading it again/,
      ),
      expect.stringMatching(
        /cached server runtime for linux\/amd64 .*has node_modules\/onnxruntime-node\/dist\/index\.js changed.*staging it again/,
      ),
    ]);
    expect(await snapshot(again.dir)).toEqual(genuine);
  });

  it('an integrity mismatch (lock file) fails with the named error and caches nothing', async () => {
    const cacheDir = join(root.dir, 'cache-bad');
    await writeFile(
      join(repo, 'package-lock.json'),
      JSON.stringify({
        packages: {
          'node_modules/onnxruntime-node': { version: '1.30.0', integrity: sriOf(Buffer.from('other')) },
        },
      }),
    );
    try {
      const err = await stageRuntime('linux/amd64', opts(cacheDir)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UserError);
      expect(String(err)).toContain('does not match its integrity');
      expect(await readdir(join(cacheDir, 'npm')).catch(() => [])).toEqual([]);
    } finally {
      await writeFile(join(repo, 'package-lock.json'), '{}');
    }
  });
});
