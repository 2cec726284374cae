/**
 * The built image in a real Docker engine (dockerd 20.10, vfs): loaded from the docker-archive (what the
 * pipeline's container smoke test does) and pulled from the registry we pushed to; run with
 * `--network host`, the server inside answers /predict on examples/sentiment.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import {
  buildImage,
  parseImageReference,
  pushImage,
  writeDockerArchive,
  type BuiltImage,
} from '../../src/image/index.js';
import { hostPlatform, stageRuntime } from '../../src/runtime/index.js';
import { silentLogger } from '../../src/util/log.js';
import {
  ensureBaseImage,
  startDocker,
  startRegistry,
  type DockerEngine,
  type LocalRegistry,
} from '../env/index.js';
import { freePort } from '../env/proc.js';
import { tempDir } from './helpers.js';

const EXAMPLE = join(import.meta.dirname, '..', '..', 'examples', 'sentiment');

let root: { dir: string; cleanup: () => Promise<void> };
let docker: DockerEngine;
let reg: LocalRegistry;
let img: BuiltImage;
const containers: string[] = [];

async function dockerOk(args: string[]): Promise<string> {
  const r = await docker.docker(args, { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout.trim();
}

/** Polls readiness until the container answers (or exits); bounded by attempts, not by a timed assert. */
async function waitReady(port: number, container: string): Promise<void> {
  for (let i = 0; i < 240; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/v2/health/ready`);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    const state = await dockerOk(['inspect', '--format', '{{.State.Running}}', container]);
    if (state !== 'true')
      throw new Error(`container exited: ${(await docker.docker(['logs', container])).stderr}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `server in ${container} never became ready: ${(await docker.docker(['logs', container])).stderr}`,
  );
}

beforeAll(async () => {
  root = await tempDir('container');
  [docker, reg] = await Promise.all([startDocker(), startRegistry({ auth: 'none' })]);
  const base = await ensureBaseImage();
  const cacheDir = join(root.dir, 'cache');
  const platforms = ['linux/amd64', 'linux/arm64'];
  const runtime: Record<string, string> = {};
  for (const p of platforms) runtime[p] = (await stageRuntime(p, { logger: silentLogger, cacheDir })).dir;
  img = await buildImage({
    base: { image: `oci-layout:${base.layoutDir}`, platforms },
    model: {
      dir: EXAMPLE,
      name: 'sentiment',
      version: '1',
      sha256: 'b'.repeat(64),
      source: 'examples/sentiment',
    },
    server: { runtime, env: { WORKERS: '1' }, port: 8080 },
    metadata: { labels: {} },
    output: { workDir: join(root.dir, 'work') },
    logger: silentLogger,
  });
}, 600_000);

afterAll(async () => {
  for (const c of containers) await docker?.docker(['rm', '-f', c]);
  await docker?.stop();
  await reg?.stop();
  await root?.cleanup();
});

describe('docker-archive', () => {
  it('`docker load` takes the host platform image; its ID is the config digest, config as built', async () => {
    const host = hostPlatform();
    const archive = join(root.dir, 'image.docker.tar');
    await writeDockerArchive(img, archive, host, ['pom-test/sentiment:smoke']);
    const out = await dockerOk(['load', '-i', archive]);
    expect(out).toContain('pom-test/sentiment:smoke');
    const p = img.platforms.find((x) => x.platform === host)!;
    expect(await dockerOk(['image', 'inspect', '--format', '{{.Id}}', 'pom-test/sentiment:smoke'])).toBe(
      p.configDigest,
    );
    const cfg = JSON.parse(
      await dockerOk(['image', 'inspect', '--format', '{{json .Config}}', 'pom-test/sentiment:smoke']),
    );
    expect(cfg.Entrypoint).toEqual(['node', '/app/server/index.js']);
    expect(cfg.User).toBe('65532:65532');
    expect(cfg.WorkingDir).toBe('/app');
  });
});

describe('pushed image in the engine', () => {
  it('pulls by tag, runs with --network host as a non-root user, and answers /predict', async () => {
    const target = parseImageReference(`${reg.host}/team/sentiment`);
    const pushed = await pushImage(img, target, ['1'], { logger: silentLogger });
    const ref = `${reg.host}/team/sentiment:1`;
    await dockerOk(['pull', ref]);
    const p = img.platforms.find((x) => x.platform === hostPlatform())!;
    expect(await dockerOk(['image', 'inspect', '--format', '{{.Id}}', ref])).toBe(p.configDigest);
    expect(await dockerOk(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref])).toContain(
      pushed.digest,
    );

    const port = await freePort();
    const id = await dockerOk(['run', '-d', '--network', 'host', '-e', `PORT=${port}`, ref]);
    containers.push(id);
    await waitReady(port, id);
    const res = await fetch(`http://127.0.0.1:${port}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(['I love this', 'This is terrible']),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { positive: boolean; predictions: { label: string }[] };
    expect(body.positive).toBe(true);
    expect(body.predictions.map((x) => x.label)).toEqual(['POSITIVE', 'NEGATIVE']);
    // The entrypoint is node running the server, as the non-root user, from /app.
    const who = await dockerOk([
      'exec',
      id,
      'node',
      '-e',
      'console.log(process.getuid(), process.getgid(), process.cwd(), process.env.MODEL_DIR)',
    ]);
    expect(who).toBe('65532 65532 /app /app/model');
    // It reads its model and code but can change neither (files 0444, folders 0555, owned by root).
    const writes = await dockerOk([
      'exec',
      id,
      'node',
      '-e',
      `for (const f of ['/app/model/model.onnx', '/app/model/new.onnx', '/app/server/index.js'])
         try { require('fs').writeFileSync(f, 'x'); console.log('wrote ' + f); } catch (e) { console.log(e.code); }`,
    ]);
    expect(writes.split('\n')).toEqual(['EACCES', 'EACCES', 'EACCES']);
    const top = await dockerOk(['inspect', '--format', '{{json .Path}} {{json .Args}}', id]);
    expect(top).toBe('"node" ["/app/server/index.js"]');
  });
});
