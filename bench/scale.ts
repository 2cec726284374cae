/**
 * `npm run bench:scale`: a RoBERTa-base-sized encoder (12 layers x 768 hidden, vocab 50265, about
 * 500 MB; generated once into .cache/models, never committed) through the whole path a big model takes.
 *
 *  - packaging: our CLI (dist/cli/index.js of the working tree, both platforms, --smoke-test none, the
 *    runtime already in the tool cache so the figure is about the model) against the shared docker
 *    baseline (bench/lib/docker-baseline.ts: BuildKit + overlay2 + registry inline cache, clean daemon,
 *    linux/amd64 only), alternating, on a local registry behind a byte-counting proxy; the CLI's peak RSS
 *    (GNU time's maximum resident set size) and the pushed image's size per platform;
 *  - one onnxruntime session in a fresh process (all cores as intra-op threads, the server's options):
 *    creation time and RSS after one inference, for the model as shipped in the image and as given;
 *  - the server bundle on the host: start to `GET /v2/health/ready` answering 200 (polled every 10 ms),
 *    and its RSS (summed over its process tree; PSS too) after a few predictions, per worker count
 *    (WORKERS unset = the server's default, then BENCH_WORKERS);
 *  - the pushed image: `docker run` (dockerd on overlay2, host network, image pulled beforehand) to
 *    `/v2/health/ready` answering 200.
 * Targets (issue 14): the server's RSS <= 1.3x one session's, whatever the worker count; container
 * start-to-ready <= 1.5x in-process session creation + 0.5 s. Medians over BENCH_REPS (3) runs.
 * Writes bench/results/scale.json and prints a table. Not a test: nothing here asserts a time.
 * Env: BENCH_REPS, BENCH_WORKERS (comma list, default 1,2,4).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pushBaseImage, startRegistry } from '../__tests__/env/index.js';
import { benchTransformer } from '../__tests__/fixtures/models.js';
import { stageRuntime } from '../src/runtime/index.js';
import { freePort } from '../src/server-process.js';
import { silentLogger } from '../src/util/log.js';
import { startCountingProxy } from './lib/counting-proxy.js';
import { loadAverages, machineFacts, median, round } from './lib/stats.js';
import { builtinBuildkitClient, dockerBaseline, withDaemon } from './lib/docker-baseline.js';
import { shippedModel } from './lib/shipped-model.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const WORKERS = (process.env['BENCH_WORKERS'] ?? '1,2,4').split(',').map(Number);
const CORES = availableParallelism();
const SHAPE = { layers: 12, hidden: 768, heads: 12, vocab: 50265 };
const PLATFORMS = ['linux/amd64', 'linux/arm64'];
const TAG = 'v1';
const TEXT = 'the service was quick and friendly but the food arrived cold while our table waited';

const mb = (bytes: number): number => round(bytes / 1e6, 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A /proc/<pid>/status or smaps_rollup field in bytes (0 once the process is gone). */
function procKb(pid: number, file: 'status' | 'smaps_rollup', field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** `pid` and its descendants. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const ppid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${e}/status`, 'utf8'))?.[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

const treeMemory = (pid: number) => {
  const pids = processTree(pid);
  return {
    rss: pids.reduce((n, p) => n + procKb(p, 'status', 'VmRSS'), 0),
    pss: pids.reduce((n, p) => n + procKb(p, 'smaps_rollup', 'Pss'), 0),
    processes: pids.length,
  };
};

/** Polls `GET <url>/v2/health/ready` every 10 ms until 200; ms since `t0`. */
async function untilReady(
  url: string,
  t0: number,
  child?: ChildProcess,
  timeoutMs = 180_000,
): Promise<number> {
  const deadline = t0 + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`the server exited (${child.exitCode})`);
    try {
      const res = await fetch(`${url}/v2/health/ready`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return performance.now() - t0;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) throw new Error(`${url} not ready after ${timeoutMs / 1000} s`);
    await sleep(10);
  }
}

async function predict(url: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${url}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([`${TEXT} ${i}`]),
    });
    if (res.status !== 200) throw new Error(`/predict answered ${res.status}: ${await res.text()}`);
    await res.text();
  }
}

/** Runs `node <args>` and resolves with its stdout; rejects on a non-zero exit. */
function runNode(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('close', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`node ${args[0]} failed (${code}): ${stderr}`)),
    );
  });
}

/** In a child (`--session <onnx>`): one session as the server creates it, one inference; prints JSON. */
async function sessionChild(onnxPath: string): Promise<void> {
  const ort = await import('onnxruntime-node');
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(onnxPath, {
    intraOpNumThreads: CORES,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const createSeconds = (performance.now() - t0) / 1000;
  const seq = 24;
  const ids = BigInt64Array.from({ length: seq }, (_, i) => BigInt(i === 0 ? 0 : 5 + ((i * 37) % 5000)));
  await session.run({
    input_ids: new ort.Tensor('int64', ids, [1, seq]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(seq).fill(1n), [1, seq]),
  });
  console.log(
    JSON.stringify({
      createSeconds: round(createSeconds, 3),
      rssMB: mb(procKb(process.pid, 'status', 'VmRSS')),
      pssMB: mb(procKb(process.pid, 'smaps_rollup', 'Pss')),
    }),
  );
}

interface SessionRun {
  createSeconds: number;
  rssMB: number;
  pssMB: number;
}
const oneSession = async (onnxPath: string): Promise<SessionRun> =>
  JSON.parse(
    (
      await runNode([...process.execArgv, fileURLToPath(import.meta.url), '--session', onnxPath])
    ).stdout.trim(),
  ) as SessionRun;

/** The server bundle on the host: seconds to ready, memory after a few predictions. */
async function hostServer(modelDir: string, workers: number | undefined) {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'server-template', 'dist', 'index.js')], {
    env: {
      ...process.env,
      MODEL_DIR: modelDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...(workers !== undefined && { WORKERS: String(workers) }),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  try {
    const url = `http://127.0.0.1:${port}`;
    const readySeconds = (await untilReady(url, t0, child)) / 1000;
    const atReady = treeMemory(child.pid as number);
    // Every worker answers at least once (requests spread over them), so their arenas are allocated.
    await Promise.all(Array.from({ length: Math.max(2, (workers ?? CORES) * 2) }, () => predict(url, 4)));
    const m = treeMemory(child.pid as number);
    return {
      readySeconds: round(readySeconds, 3),
      rssAtReadyMB: mb(atReady.rss),
      rssMB: mb(m.rss),
      pssMB: mb(m.pss),
      processes: m.processes,
    };
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${err}`, { cause: e });
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(10_000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Bytes of an image's config and layers (compressed, as pushed) per platform, from the registry. */
async function imageSizes(host: string, repo: string, tag: string): Promise<Record<string, number>> {
  const accept = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', ');
  type Manifest = {
    manifests?: Array<{ digest: string; platform?: { os: string; architecture: string } }>;
    config?: { size: number };
    layers?: Array<{ size: number }>;
  };
  const get = async (ref: string): Promise<Manifest> => {
    const res = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, { headers: { accept } });
    if (!res.ok) throw new Error(`manifest ${repo}:${ref}: ${res.status}`);
    return (await res.json()) as Manifest;
  };
  const size = (m: Manifest) => (m.config?.size ?? 0) + (m.layers ?? []).reduce((n, l) => n + l.size, 0);
  const top = await get(tag);
  if (!top.manifests) return { 'linux/amd64': size(top) };
  const out: Record<string, number> = {};
  for (const d of top.manifests) {
    if (!d.platform || d.platform.os === 'unknown') continue; // attestations
    out[`${d.platform.os}/${d.platform.architecture}`] = size(await get(d.digest));
  }
  return out;
}

async function dirBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

async function main(): Promise<void> {
  const loadAtStart = loadAverages();
  const work = await mkdtemp(join(tmpdir(), 'pom-bench-scale-'));
  const model = await benchTransformer(SHAPE);
  const shipped = await shippedModel(model, join(work, 'shipped'));
  const modelMB = mb(await dirBytes(model));
  console.log(
    `model ${modelMB} MB (${JSON.stringify(SHAPE)}); shipped as ${shipped.files.join(' + ')}; ${CORES} CPUs, load ${loadAtStart.join(' ')}`,
  );
  const client = builtinBuildkitClient();
  const reg = await startRegistry({ auth: 'none' });
  const proxy = await startCountingProxy(Number(reg.host.split(':')[1]));
  const host = proxy.host;
  try {
    await pushBaseImage(reg, 'base/node', 'latest');
    const base = `${host}/base/node:latest`;
    const runtimeDir = (
      await stageRuntime('linux/amd64', {
        logger: silentLogger,
        cacheDir: join(work, 'docker-runtime-cache'),
        serverDir: join(ROOT, 'server-template', 'dist'),
        useLocalNodeModules: false,
      })
    ).dir;
    const baseline = dockerBaseline({ work, client, proxy, base, runtimeDir });
    const toolCache = join(work, 'tool-cache');

    /** Our CLI, timed, under GNU time (its maximum resident set size). */
    const oursTimed = async (repo: string) => {
      const home = await mkdtemp(join(work, 'home-'));
      const args = [
        '-f',
        'peak-rss-kb %M',
        process.execPath,
        join(ROOT, 'dist', 'cli', 'index.js'),
        ...['--model', model, '--image', `${host}/${repo}`, '--tags', TAG, '--base-image', base],
        ...['--platforms', PLATFORMS.join(','), '--smoke-test', 'none'],
      ];
      proxy.reset();
      const t0 = performance.now();
      const out = await new Promise<string>((resolve, reject) => {
        const p = spawn('/usr/bin/time', args, {
          env: { ...process.env, HOME: home, RUNNER_TOOL_CACHE: toolCache, RUNNER_TEMP: home },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let all = '';
        p.stdout.on('data', (c: Buffer) => (all += c.toString()));
        p.stderr.on('data', (c: Buffer) => (all += c.toString()));
        p.on('close', (code) =>
          code === 0 ? resolve(all) : reject(new Error(`the CLI failed (${code}):\n${all}`)),
        );
      });
      const seconds = (performance.now() - t0) / 1000;
      await rm(home, { recursive: true, force: true });
      const kb = Number(/peak-rss-kb (\d+)/.exec(out)?.[1]);
      return { seconds: round(seconds), bytesUploaded: proxy.sent, peakRssMB: mb(kb * 1024) };
    };

    // Untimed: the runtime into the tool cache (a runner's second job), so the runs time the model.
    await oursTimed('warmup/model');
    const runs = {
      ours: [] as Array<{ seconds: number; bytesUploaded: number; peakRssMB: number }>,
      docker: [] as Array<{ seconds: number; bytesUploaded: number }>,
    };
    for (let rep = 0; rep < REPS; rep++) {
      const order = rep % 2 === 0 ? (['ours', 'docker'] as const) : (['docker', 'ours'] as const);
      for (const who of order) {
        if (who === 'ours') runs.ours.push(await oursTimed(`ours-r${rep}/model`));
        else runs.docker.push(await baseline.run('buildkit', `docker-r${rep}/model`, model));
        const r = who === 'ours' ? runs.ours.at(-1) : runs.docker.at(-1);
        console.log(
          `rep ${rep + 1}/${REPS} package ${who.padEnd(6)} ${JSON.stringify(r)}, load ${round(loadavg()[0] ?? 0)}`,
        );
      }
    }
    const oursSizes = await imageSizes(host, 'ours-r0/model', TAG);
    const dockerSizes = await imageSizes(host, 'docker-r0/model', 'v');

    // One session in a fresh process, shipped and original alternating; then the server per worker count.
    const sessions = { shipped: [] as SessionRun[], original: [] as SessionRun[] };
    for (let rep = 0; rep < REPS; rep++) {
      for (const which of rep % 2 === 0
        ? (['shipped', 'original'] as const)
        : (['original', 'shipped'] as const)) {
        const r = await oneSession(which === 'shipped' ? shipped.onnxPath : join(model, 'model.onnx'));
        sessions[which].push(r);
        console.log(`rep ${rep + 1}/${REPS} session ${which.padEnd(8)} ${JSON.stringify(r)}`);
      }
    }
    const workerSettings: Array<number | undefined> = [undefined, ...WORKERS];
    const servers: Record<string, Awaited<ReturnType<typeof hostServer>>[]> = {};
    for (let rep = 0; rep < REPS; rep++) {
      for (const w of rep % 2 === 0 ? workerSettings : [...workerSettings].reverse()) {
        const key = w === undefined ? 'default' : `WORKERS=${w}`;
        const r = await hostServer(shipped.dir, w);
        (servers[key] ??= []).push(r);
        console.log(`rep ${rep + 1}/${REPS} server ${key.padEnd(10)} ${JSON.stringify(r)}`);
      }
    }

    // The pushed image in a container (overlay2, as bench:package's BuildKit daemon), pulled first.
    const ref = `${host}/ours-r0/model:${TAG}`;
    const containerSeconds = await withDaemon(client, 'buildkit', async (d) => {
      const pull = await d.docker(['pull', '-q', ref], { timeoutMs: 600_000 });
      if (pull.code !== 0) throw new Error(`docker pull ${ref}: ${pull.stderr}`);
      const out: number[] = [];
      for (let rep = 0; rep < REPS; rep++) {
        const port = await freePort();
        const t0 = performance.now();
        const run = await d.docker(
          ['run', '-d', '--network', 'host', '-e', `PORT=${port}`, '-e', 'HOST=127.0.0.1', ref],
          { timeoutMs: 120_000 },
        );
        if (run.code !== 0) throw new Error(`docker run ${ref}: ${run.stderr}`);
        const id = run.stdout.trim();
        try {
          out.push(round((await untilReady(`http://127.0.0.1:${port}`, t0)) / 1000, 3));
        } finally {
          await d.docker(['rm', '-f', id]);
        }
        console.log(`rep ${rep + 1}/${REPS} container start-to-ready ${out.at(-1)} s`);
      }
      return out;
    });

    // Medians and targets.
    const med = <T>(xs: T[], f: (x: T) => number, d = 2) => round(median(xs.map(f)), d);
    const session = {
      shipped: {
        createSeconds: med(sessions.shipped, (r) => r.createSeconds, 3),
        rssMB: med(sessions.shipped, (r) => r.rssMB, 1),
        pssMB: med(sessions.shipped, (r) => r.pssMB, 1),
        runs: sessions.shipped,
      },
      original: {
        createSeconds: med(sessions.original, (r) => r.createSeconds, 3),
        rssMB: med(sessions.original, (r) => r.rssMB, 1),
        pssMB: med(sessions.original, (r) => r.pssMB, 1),
        runs: sessions.original,
      },
    };
    const server = Object.fromEntries(
      Object.entries(servers).map(([k, rs]) => [
        k,
        {
          readySeconds: med(rs, (r) => r.readySeconds, 3),
          rssAtReadyMB: med(rs, (r) => r.rssAtReadyMB, 1),
          rssMB: med(rs, (r) => r.rssMB, 1),
          pssMB: med(rs, (r) => r.pssMB, 1),
          processes: rs[0]?.processes,
          runs: rs,
        },
      ]),
    );
    const container = { readySeconds: round(median(containerSeconds), 3), runs: containerSeconds };
    const packaging = {
      ours: {
        seconds: med(runs.ours, (r) => r.seconds),
        peakRssMB: med(runs.ours, (r) => r.peakRssMB, 1),
        bytesUploaded: med(runs.ours, (r) => r.bytesUploaded, 0),
        imageBytes: oursSizes,
        runs: runs.ours,
      },
      dockerBuildkit: {
        seconds: med(runs.docker, (r) => r.seconds),
        bytesUploaded: med(runs.docker, (r) => r.bytesUploaded, 0),
        imageBytes: dockerSizes,
        runs: runs.docker,
      },
    };
    const oneSessionRss = session.shipped.rssMB;
    const coldLimit = round(1.5 * session.shipped.createSeconds + 0.5, 3);
    const targets = {
      ...Object.fromEntries(
        Object.entries(server).map(([k, s]) => [
          `memory ${k}`,
          {
            value: round(s.rssMB / oneSessionRss, 2),
            goal: '<= 1.3x one session RSS',
            met: s.rssMB <= 1.3 * oneSessionRss,
          },
        ]),
      ),
      'cold start (container)': {
        value: container.readySeconds,
        goal: `<= ${coldLimit} s (1.5 x ${session.shipped.createSeconds} s + 0.5 s)`,
        met: container.readySeconds <= coldLimit,
      },
    };
    const out = {
      ...machineFacts(loadAtStart),
      reps: REPS,
      model: { shape: SHAPE, megabytes: modelMB, shipped: shipped.files },
      packaging: {
        ...packaging,
        ratio: round(packaging.ours.seconds / packaging.dockerBuildkit.seconds, 3),
        ours: packaging.ours,
        note: 'ours: node dist/cli/index.js, linux/amd64+linux/arm64, --smoke-test none, runtime in the tool cache; docker: linux/amd64 only (bench/lib/docker-baseline.ts)',
      },
      session,
      server,
      container,
      targets,
    };
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    await writeFile(join(ROOT, 'bench', 'results', 'scale.json'), `${JSON.stringify(out, null, 2)}\n`);

    const row = (a: string, b: string, c = '', d = '') =>
      console.log(`${a.padEnd(34)} ${b.padStart(14)}  ${c.padEnd(40)} ${d}`);
    console.log('');
    row('measure', 'value', 'target', 'met');
    row(
      'package, ours (2 platforms)',
      `${packaging.ours.seconds} s`,
      `docker build+push (1 platform): ${packaging.dockerBuildkit.seconds} s`,
    );
    row('ours peak RSS', `${packaging.ours.peakRssMB} MB`);
    for (const [p, b] of Object.entries(oursSizes)) row(`image size ${p}`, `${mb(b)} MB`);
    row(
      'one session: create (shipped)',
      `${session.shipped.createSeconds} s`,
      `original model: ${session.original.createSeconds} s`,
    );
    row(
      'one session: RSS (shipped)',
      `${session.shipped.rssMB} MB`,
      `original model: ${session.original.rssMB} MB`,
    );
    for (const [k, s] of Object.entries(server)) row(`server ${k}: ready on host`, `${s.readySeconds} s`);
    for (const [k, t] of Object.entries(targets)) row(k, String(t.value), t.goal, t.met ? 'met' : 'NOT met');
    console.log('wrote bench/results/scale.json');
  } finally {
    await proxy.stop();
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

const sessionArg = process.argv.indexOf('--session');
if (sessionArg > 0) await sessionChild(process.argv[sessionArg + 1] as string);
else await main();
