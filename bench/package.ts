/**
 * `npm run bench:package`: our daemonless builder vs `docker build` + `docker push` of an equivalent
 * Dockerfile (FROM the base in the registry, COPY server + node_modules + model, USER, CMD), on the same
 * local registry and Docker engine (dockerd 20.10, vfs). Three scenarios:
 *   1. fresh runner: no local image cache; the registry holds the base and an earlier version; a new
 *      model version is packaged (we build linux/amd64 + linux/arm64, docker builds linux/amd64 only);
 *   2. cold registry: only the base is in the registry (a new repository);
 *   3. re-run of the same model (we must upload 0 blobs; docker keeps its warm build cache).
 * Each scenario runs REPS times, alternating ours and docker; medians are reported. Writes
 * bench/results/package.json. Not a test: nothing here asserts a time.
 */
import { spawnSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildImage, parseImageReference, pushImage } from '../src/image/index.js';
import { stageRuntime } from '../src/runtime/index.js';
import { silentLogger } from '../src/util/log.js';
import { pushBaseImage, startDocker, startRegistry } from '../__tests__/env/index.js';
import { benchTransformer } from '../__tests__/fixtures/models.js';
import { startCountingProxy } from './lib/counting-proxy.js';

process.env['DOCKER_BUILDKIT'] = '0'; // no buildx here: the classic builder (as dockerd 20.10 has)

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const PLATFORMS = ['linux/amd64', 'linux/arm64'];

interface Run {
  seconds: number;
  bytesUploaded: number;
  blobsUploaded?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pom-bench-package-'));
  const [docker, reg] = await Promise.all([startDocker(), startRegistry({ auth: 'none' })]);
  const proxy = await startCountingProxy(Number(reg.host.split(':')[1]));
  const host = proxy.host;
  try {
    await pushBaseImage(reg, 'base/node', 'latest');
    const base = `${host}/base/node:latest`;
    const models = {
      v1: await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 1 }),
      v2: await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 2 }),
    };
    const modelBytes = await dirSize(models.v2);
    console.log(
      `model: ${(modelBytes / 1e6).toFixed(1)} MB; base ${base}; ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`,
    );

    const serverDir = await snapshotServer(join(ROOT, '.cache', 'bench-package'));
    const dockerRun = async (args: string[]): Promise<string> => {
      const r = await docker.docker(args, { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const cleanEngine = async (): Promise<void> => {
      await docker.docker(['image', 'prune', '-a', '-f'], { timeoutMs: 600_000 });
      await docker.docker(['builder', 'prune', '-a', '-f'], { timeoutMs: 600_000 });
      spawnSync('sync'); // let the deletions reach the disk before the next timed run
    };

    /** Ours: stage the runtime (fresh cache), build both platforms, push. */
    const ours = async (
      repo: string,
      version: 'v1' | 'v2',
      fresh = true,
    ): Promise<Run & { blobsUploaded: number }> => {
      const dir = await mkdtemp(join(work, 'ours-'));
      const cacheDir = fresh ? join(dir, 'cache') : join(work, 'ours-cache');
      proxy.reset();
      const t0 = performance.now();
      // BENCH_DEBUG=1 prints our log lines with their time since the start of the run.
      const at = (m: string): void => console.log(`  ${((performance.now() - t0) / 1000).toFixed(2)} s ${m}`);
      const logger = process.env['BENCH_DEBUG']
        ? { info: at, warning: at, debug: at, secret: () => undefined }
        : silentLogger;
      const runtime: Record<string, string> = {};
      for (const p of PLATFORMS) runtime[p] = (await stageRuntime(p, { logger, cacheDir, serverDir })).dir;
      const img = await buildImage({
        base,
        platforms: PLATFORMS,
        runtime,
        modelDir: models[version],
        modelName: 'bench',
        modelVersion: version,
        modelSha256: '0'.repeat(64),
        modelSource: 'bench',
        env: {},
        port: 8080,
        labels: {},
        pushRegistry: host,
        // as the pipeline does: the target's tags may hold layers we would otherwise compress again
        reuseLayersFrom: [`${host}/${repo}:latest`],
        logger,
        workDir: join(dir, 'work'),
      });
      const res = await pushImage(img, parseImageReference(`${host}/${repo}`), [version, 'latest'], {
        logger,
      });
      const seconds = (performance.now() - t0) / 1000;
      await rm(dir, { recursive: true, force: true });
      return { seconds, bytesUploaded: proxy.sent, blobsUploaded: res.blobsUploaded };
    };

    /** Docker: the same staged files in a build context, `docker build` (linux/amd64) + `docker push`. */
    const dockerBuildPush = async (repo: string, version: 'v1' | 'v2'): Promise<Run> => {
      const ctx = await mkdtemp(join(work, 'ctx-'));
      proxy.reset();
      const t0 = performance.now();
      const staged = await stageRuntime('linux/amd64', {
        logger: silentLogger,
        cacheDir: join(ctx, '.cache'),
        serverDir,
      });
      await cp(staged.dir, join(ctx, 'server'), { recursive: true });
      await cp(models[version], join(ctx, 'model'), { recursive: true });
      await writeFile(join(ctx, '.dockerignore'), '.cache\n');
      await writeFile(
        join(ctx, 'Dockerfile'),
        [
          `FROM ${base}`,
          'WORKDIR /app',
          'COPY server /app/server',
          'COPY model /app/model',
          'ENV MODEL_DIR=/app/model PORT=8080 NODE_ENV=production',
          'EXPOSE 8080',
          'USER 65532:65532',
          'ENTRYPOINT ["node", "/app/server/index.js"]',
          '',
        ].join('\n'),
      );
      const ref = `${host}/${repo}:${version}`;
      await dockerRun(['build', '-q', '-t', ref, ctx]);
      await dockerRun(['tag', ref, `${host}/${repo}:latest`]);
      await dockerRun(['push', ref]);
      await dockerRun(['push', `${host}/${repo}:latest`]);
      const seconds = (performance.now() - t0) / 1000;
      await rm(ctx, { recursive: true, force: true });
      return { seconds, bytesUploaded: proxy.sent };
    };

    const results: Record<string, { ours: Run[]; docker: Run[] }> = {
      fresh: { ours: [], docker: [] },
      cold: { ours: [], docker: [] },
      rerun: { ours: [], docker: [] },
    };
    for (let rep = 0; rep < REPS; rep++) {
      const tag = `r${rep}`;
      // Alternate who goes first, so background work (the engine deleting images) hits both alike.
      const pair = async (name: string, o: () => Promise<Run>, d: () => Promise<Run>): Promise<void> => {
        if (rep % 2 === 0) {
          results[name]!.ours.push(await o());
          results[name]!.docker.push(await d());
        } else {
          results[name]!.docker.push(await d());
          results[name]!.ours.push(await o());
        }
      };
      // 1. fresh runner: the registry has the base + v1; the engine has no image and no build cache.
      await ours(`ours-${tag}/model`, 'v1');
      await dockerBuildPush(`docker-${tag}/model`, 'v1');
      await cleanEngine();
      await pair(
        'fresh',
        () => ours(`ours-${tag}/model`, 'v2'),
        () => dockerBuildPush(`docker-${tag}/model`, 'v2'),
      );
      // 3. re-run of the same model (v2 again): ours from a fresh runner, docker with its warm cache.
      await pair(
        'rerun',
        () => ours(`ours-${tag}/model`, 'v2'),
        () => dockerBuildPush(`docker-${tag}/model`, 'v2'),
      );
      // 2. cold registry: a new repository (only the base is there), engine cleaned.
      await cleanEngine();
      await pair(
        'cold',
        () => ours(`ours-${tag}/cold`, 'v2'),
        () => dockerBuildPush(`docker-${tag}/cold`, 'v2'),
      );
      console.log(
        `rep ${rep + 1}/${REPS}: ${JSON.stringify(Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { ours: v.ours.at(-1)!.seconds.toFixed(2), docker: v.docker.at(-1)!.seconds.toFixed(2) }])))}`,
      );
    }

    const targets: Record<string, number | undefined> = { fresh: 0.3, cold: 0.5, rerun: undefined };
    const summary = Object.fromEntries(
      Object.entries(results).map(([name, r]) => {
        const o = median(r.ours.map((x) => x.seconds));
        const d = median(r.docker.map((x) => x.seconds));
        const ratio = o / d;
        const target = targets[name];
        return [
          name,
          {
            ours: {
              seconds: round(o),
              bytesUploaded: median(r.ours.map((x) => x.bytesUploaded)),
              blobsUploaded: median(r.ours.map((x) => x.blobsUploaded ?? 0)),
              platforms: PLATFORMS,
            },
            docker: {
              seconds: round(d),
              bytesUploaded: median(r.docker.map((x) => x.bytesUploaded)),
              platforms: ['linux/amd64'],
            },
            ratio: round(ratio, 3),
            ...(target !== undefined && { target, met: ratio <= target }),
            runs: {
              ours: r.ours.map((x) => round(x.seconds)),
              docker: r.docker.map((x) => round(x.seconds)),
            },
          },
        ];
      }),
    );
    const out = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        loadavg1: round(loadavg()[0] ?? 0),
        note: 'CPU shared with other processes; dockerd 20.10 with the vfs storage driver',
      },
      node: process.version,
      reps: REPS,
      modelMB: round(modelBytes / 1e6),
      scenarios: summary,
    };
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    await writeFile(join(ROOT, 'bench', 'results', 'package.json'), `${JSON.stringify(out, null, 2)}\n`);
    for (const [name, s] of Object.entries(summary)) {
      console.log(
        `${name.padEnd(6)} ours ${s.ours.seconds.toFixed(2)} s (${(s.ours.bytesUploaded / 1e6).toFixed(1)} MB up, ${s.ours.blobsUploaded} blobs, 2 platforms) | docker ${s.docker.seconds.toFixed(2)} s (${(s.docker.bytesUploaded / 1e6).toFixed(1)} MB up, 1 platform) | ratio ${s.ratio}${'target' in s ? ` (target <= ${s.target}: ${s.met ? 'met' : 'NOT met'})` : ''}`,
      );
    }
  } finally {
    await proxy.stop();
    await reg.stop();
    await docker.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A private copy of the server bundle (server-template/{dist,package.json}) under .cache, so a bundle
 * rebuild in the working tree during the run cannot pull files away; node_modules is still found above.
 */
async function snapshotServer(dest: string): Promise<string> {
  const { existsSync } = await import('node:fs');
  for (let i = 0; !existsSync(join(ROOT, 'server-template', 'dist', 'index.js')); i++) {
    if (i > 120) throw new Error('server-template/dist/index.js is missing: run npm run bundle -- server');
    await new Promise((r) => setTimeout(r, 1000)); // being rebuilt right now
  }
  await rm(dest, { recursive: true, force: true });
  await mkdir(join(dest, 'server-template'), { recursive: true });
  await cp(join(ROOT, 'server-template', 'dist'), join(dest, 'server-template', 'dist'), { recursive: true });
  await cp(join(ROOT, 'server-template', 'package.json'), join(dest, 'server-template', 'package.json'));
  return join(dest, 'server-template', 'dist');
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function dirSize(dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises');
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

await main();
