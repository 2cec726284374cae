/**
 * `npm run bench:server`: how close the inference server gets to the machine's limit, on the benchmark
 * encoder and on examples/sentiment.
 *
 *  (a) the limit: raw in-process ONNX Runtime loops (tokenize + run), the best texts/s of: one session
 *      with all intra-op threads; one single-threaded session per core, each in a thread of its own
 *      (bench/raw-worker.ts: onnxruntime-node's run() keeps its calling thread busy), all running concurrently; and
 *      batched runs (4, 8, 16) on length-sorted texts (least padding) with either layout. A true upper
 *      bound: no HTTP, no JSON, and batches a server could only form with perfect foresight. The best
 *      batch-1 p50 of one session is the latency floor.
 *  (b) a naive per-request server (bench/naive-server.ts: one session, tokenize + run in the handler).
 *  (c) our server, from the shipped bundle, with its default settings (plus any BENCH_VARIANTS).
 *  (d) a reference, not a baseline: bench/http-ceiling.ts answers the same requests without a model, so
 *      it shows what HTTP and the load generator alone allow on this machine against the limit.
 *  (b)-(c) are driven by our own closed-loop load generator (N keep-alive clients on loopback, each
 *  sending its next request when the previous answers; latency measured client-side with
 *  performance.now(), so sub-millisecond differences show) at concurrency 1, 8 and 32 with mixed
 *  sentence lengths, one text per request. Each round runs, per model, (a) then (b)-(c) in rotating
 *  order, so the machine's noise hits them alike; medians over rounds are reported. Resident memory
 *  (VmRSS, and the peak VmHWM) of every server is read from /proc after each round; the naive server
 *  is one session plus a tokenizer, the reference for "one copy of the weights". Our server runs with
 *  the runtime settings its image sets (src/server-env.ts RUNTIME_DEFAULTS, e.g. MALLOC_ARENA_MAX); the
 *  naive server with glibc's defaults, as a hand-written server would (given MALLOC_ARENA_MAX=2 too, its
 *  RSS was the same: 169 MB against 170-177 without).
 *  Each server's CPU time per request (all its threads, and its main thread alone) is read from /proc
 *  around every load run: where a server spends its time, which req/s alone does not show.
 *
 * Writes bench/results/server.json and prints a table with every target met or not. Timing goals live
 * here, never in tests. Env: BENCH_ROUNDS (3), BENCH_SECONDS (6 per run), BENCH_RAW_SECONDS (2 per
 * configuration), BENCH_MODELS (encoder,sentiment), BENCH_VARIANTS (JSON {"name": {"ENV": "value"}}: more settings of our server, measured
 * alongside the default, e.g. to try a setting).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RawWorkerData, RawWorkerResult } from './raw-worker.js';
import * as ort from 'onnxruntime-node';
import { readModelDir } from '../server-template/src/model-dir.js';
import { textPipelineFor } from './text-pipeline.js';
import { benchTransformer, EXAMPLE_SENTIMENT } from '../scripts/models/cache.js';
import { RUNTIME_DEFAULTS } from '../src/server-env.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const RAW_SECONDS = Number(process.env.BENCH_RAW_SECONDS ?? 2);
const CORES = availableParallelism();
const CONCURRENCIES = [1, 8, 32] as const;
/** The server that answers without a model (bench/http-ceiling.ts). */
const HTTP_CEILING = 'http-ceiling';
/** The models the bench knows, by the name BENCH_MODELS uses: [label, model directory]. */
const MODEL_CHOICES: Record<string, () => Promise<[string, string]>> = {
  encoder: async () => [
    'benchmark encoder (benchTransformer(): 4 layers x 256 hidden x 4 heads, RoBERTa-style IO)',
    await benchTransformer(),
  ],
  sentiment: async () => ['examples/sentiment', EXAMPLE_SENTIMENT],
};
/** Which models to measure (comma-separated; all by default). */
const MODELS = (process.env.BENCH_MODELS ?? Object.keys(MODEL_CHOICES).join(',')).split(',');
const unknownModels = MODELS.filter((m) => !(m in MODEL_CHOICES));
if (unknownModels.length > 0) {
  throw new Error(
    `BENCH_MODELS names ${unknownModels.join(', ') || 'no model'}; use a comma-separated list of ${Object.keys(MODEL_CHOICES).join(', ')}`,
  );
}
const VARIANTS = JSON.parse(process.env.BENCH_VARIANTS ?? '{}') as Record<string, Record<string, string>>;

/** Deterministic sentences of mixed length (4 to ~60 words). */
function corpus(n = 512): string[] {
  const words = (
    'the service was quick and friendly but the food arrived cold while our table waited for the bill ' +
    'I really love how this product handles updates yet the battery life is terrible after a month of use'
  ).split(' ');
  let seed = 42;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  return Array.from({ length: n }, () => {
    const len = rand() < 0.7 ? 4 + Math.floor(rand() * 16) : 20 + Math.floor(rand() * 40);
    return Array.from({ length: len }, () => words[Math.floor(rand() * words.length)]).join(' ');
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

interface RawConfig {
  /** Sessions running concurrently (each with its own loop). */
  sessions: number;
  /** Intra-op threads per session. */
  threads: number;
  batch: number;
  /** Batches cut from the texts sorted by token count (least padding), else in corpus order. */
  sorted: boolean;
}

interface RawResult extends RawConfig {
  textsPerSecond: number;
  /** Per-call latency (tokenize + run) percentiles in ms. */
  p50Ms: number;
  p99Ms: number;
}

const RAW_CONFIGS: RawConfig[] = [
  { sessions: 1, threads: 1, batch: 1, sorted: false },
  { sessions: 1, threads: CORES, batch: 1, sorted: false },
  ...(CORES > 1 ? [{ sessions: CORES, threads: 1, batch: 1, sorted: false }] : []),
  ...[4, 8, 16].flatMap((batch) => [
    { sessions: 1, threads: CORES, batch, sorted: true },
    ...(CORES > 1 ? [{ sessions: CORES, threads: 1, batch, sorted: true }] : []),
  ]),
];
/**
 * The raw worker's TypeScript, run through tsx's loader: worker threads inherit neither the loader
 * `tsx` registered nor one given in their execArgv on Node 20, so the worker registers it itself.
 */
const RAW_WORKER = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(
  new URL('./raw-worker.ts', import.meta.url).href,
)}); })`;
const rawName = (c: RawConfig): string =>
  `${c.sessions} session(s) x ${c.threads} thread(s), batch ${c.batch}${c.sorted ? ' length-sorted' : ''}`;

async function rawLoop(modelDir: string, texts: string[]): Promise<RawResult[]> {
  const files = await readModelDir(modelDir, undefined);
  const probe = await ort.InferenceSession.create(files.onnxPath);
  const text = textPipelineFor(probe.inputNames, files);
  await probe.release();
  const lengths = texts.map((t) => text.encode(t).ids.length);
  const results: RawResult[] = [];
  for (const config of RAW_CONFIGS) {
    // Batches: consecutive texts, or consecutive texts of the length-sorted corpus.
    const order = texts.map((_, i) => i);
    if (config.sorted) order.sort((a, b) => (lengths[a] ?? 0) - (lengths[b] ?? 0));
    const batches: number[][] = [];
    for (let i = 0; i + config.batch <= order.length; i += config.batch)
      batches.push(order.slice(i, i + config.batch));
    // Every session in a thread of its own (bench/raw-worker.ts), all started together.
    const workers = Array.from({ length: config.sessions }, (_, i) => {
      const data: RawWorkerData = {
        modelDir,
        texts,
        batches,
        firstBatch: Math.floor((i * batches.length) / config.sessions),
        threads: config.threads,
        seconds: RAW_SECONDS,
      };
      return new Worker(RAW_WORKER, { eval: true, workerData: data });
    });
    const message = (w: Worker): Promise<unknown> =>
      new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
    await Promise.all(workers.map(message)); // 'ready'
    const start = performance.now();
    const answers = workers.map(message);
    for (const w of workers) w.postMessage('go');
    const done = (await Promise.all(answers)) as RawWorkerResult[];
    const seconds = (performance.now() - start) / 1000;
    await Promise.all(workers.map((w) => w.terminate()));
    const latencies = done.flatMap((d) => d.latenciesMs);
    const r: RawResult = {
      ...config,
      textsPerSecond: round(done.reduce((n, d) => n + d.texts, 0) / seconds, 1),
      p50Ms: round(percentile(latencies, 50), 3),
      p99Ms: round(percentile(latencies, 99), 3),
    };
    console.log(`  raw ${rawName(config)}: ${r.textsPerSecond} texts/s, p50 ${r.p50Ms} ms`);
    results.push(r);
  }
  return results;
}

interface Served {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * How the bench knows a server is ready: a line of its output that names its port (the group), or, for
 * our servers, a port the bench chose and the readiness probe answering 200 there (their log level may
 * hide the "ready" line, e.g. a variant with LOG_LEVEL=warn).
 */
type Readiness = RegExp | { port: number; probe: string };

function serve(command: string, args: string[], env: NodeJS.ProcessEnv, ready: Readiness): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let settled = false;
    const done = (port: string): void => {
      if (settled) return;
      settled = true;
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve({
        url: `http://127.0.0.1:${port}`,
        child,
        stop: () =>
          new Promise((r) => {
            child.once('exit', () => r());
            child.kill('SIGTERM');
          }),
      });
    };
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = ready instanceof RegExp ? ready.exec(out) : null;
      if (m) done(m[1] as string);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => {
      settled = true;
      reject(new Error(`${args.join(' ')} exited (${code}):\n${out}`));
    });
    if (!(ready instanceof RegExp)) {
      const poll = (): void => {
        if (settled) return;
        const req = httpRequest({ host: '127.0.0.1', port: ready.port, path: ready.probe }, (res) => {
          res.resume();
          if (res.statusCode === 200) done(String(ready.port));
          else setTimeout(poll, 50);
        });
        req.on('error', () => setTimeout(poll, 50));
        req.end();
      };
      poll();
    }
  });
}

/** A port nothing listens on now (the kernel's choice), for a server that must be told its port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

interface LoadResult {
  connections: number;
  /** Requests answered with 2xx. */
  requests: number;
  requestsPerSecond: number;
  /** Client-side latency (performance.now() around each request), ms with microsecond resolution. */
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
  /**
   * The server's CPU time per answered request, in microseconds, from /proc: all its threads, and its
   * main (HTTP) thread alone. It shows where a server spends its time, which req/s alone does not.
   */
  cpuUsPerRequest: number;
  mainThreadCpuUsPerRequest: number;
}

/** CPU seconds (user + system) so far of process `pid`, and of its main thread, from /proc (Linux). */
function cpuSecondsOf(pid: number | undefined): { process: number; main: number } {
  // Fields 14 and 15 (utime, stime) after the ")" that ends the command name, in clock ticks: USER_HZ,
  // which Linux fixes at 100 for /proc.
  const ticks = (path: string): number => {
    const stat = readFileSync(path, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  return { process: ticks(`/proc/${pid}/stat`) / 100, main: ticks(`/proc/${pid}/task/${pid}/stat`) / 100 };
}

/**
 * Closed-loop load on loopback: `connections` keep-alive clients, each POSTing one text to /predict and
 * sending the next when the answer is complete, for SECONDS. Written here rather than with autocannon,
 * whose latency histogram has 1 ms resolution: the latency target is 1 ms.
 */
async function load(server: Served, texts: string[], connections: number): Promise<LoadResult> {
  const { hostname, port } = new URL(server.url);
  const cpuBefore = cpuSecondsOf(server.child.pid);
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  let next = 0;
  const post = (body: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: hostname,
          port,
          path: '/predict',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          timeout: 30_000,
        },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });
  const start = performance.now();
  const end = start + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const body = JSON.stringify([texts[next++ % texts.length]]);
        const t0 = performance.now();
        try {
          const status = await post(body);
          if (status < 200 || status > 299) non2xx++;
          else latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const cpuAfter = cpuSecondsOf(server.child.pid);
  const perRequest = (cpuSeconds: number): number =>
    round((cpuSeconds * 1e6) / Math.max(1, latencies.length), 1);
  return {
    connections,
    requests: latencies.length,
    requestsPerSecond: round(latencies.length / seconds, 1),
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length), 3),
    p50Ms: round(percentile(latencies, 50), 3),
    p99Ms: round(percentile(latencies, 99), 3),
    errors,
    non2xx,
    cpuUsPerRequest: perRequest(cpuAfter.process - cpuBefore.process),
    mainThreadCpuUsPerRequest: perRequest(cpuAfter.main - cpuBefore.main),
  };
}

function summarize(runs: LoadResult[]): LoadResult & { runs: LoadResult[] } {
  return {
    connections: runs[0]?.connections ?? 0,
    requests: round(median(runs.map((r) => r.requests)), 0),
    requestsPerSecond: round(median(runs.map((r) => r.requestsPerSecond)), 1),
    meanMs: round(median(runs.map((r) => r.meanMs)), 3),
    p50Ms: round(median(runs.map((r) => r.p50Ms)), 3),
    p99Ms: round(median(runs.map((r) => r.p99Ms)), 3),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    cpuUsPerRequest: round(median(runs.map((r) => r.cpuUsPerRequest)), 1),
    mainThreadCpuUsPerRequest: round(median(runs.map((r) => r.mainThreadCpuUsPerRequest)), 1),
    runs,
  };
}

/** Resident and peak resident memory of a process, in MB, from /proc (Linux). */
function memoryOf(pid: number | undefined): { rssMb: number; peakRssMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { rssMb: round(kb('VmRSS') / 1024, 1), peakRssMb: round(kb('VmHWM') / 1024, 1) };
}

interface Target {
  value: number;
  target: string;
  met: boolean;
}

const target = (value: number, op: '<=' | '>=', bound: number): Target => ({
  value: round(value, 3),
  target: `${op} ${bound}`,
  met: op === '<=' ? value <= bound : value >= bound,
});

interface ModelReport {
  model: string;
  raw: RawResult[];
  rawRounds: RawResult[][];
  limit: RawResult;
  rawBatch1: RawResult;
  servers: Record<
    string,
    { env: Record<string, string>; memory: { rssMb: number; peakRssMb: number }[] } & Record<string, unknown>
  >;
  httpCeilingVsLimit: Record<string, number>;
  targets: Record<string, Target>;
  variantTargets: Record<string, Record<string, Target>>;
}

async function benchModel(label: string, modelDir: string, texts: string[]): Promise<ModelReport> {
  console.log(`\n== ${label} (${modelDir})`);
  // The server's defaults otherwise (LOG_LEVEL info: one access-log line per request, as shipped).
  const ourEnv = { MODEL_DIR: modelDir, HOST: '127.0.0.1' };
  const ourBundle = [join(ROOT, 'server-template', 'dist', 'index.js')];
  const envs: Record<string, Record<string, string>> = { naive: {}, ours: {}, ...VARIANTS };
  const references = ['naive', HTTP_CEILING];
  const servers: [string, Served][] = [];
  try {
    servers.push([
      'naive',
      await serve(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'bench', 'naive-server.ts')],
        { MODEL_DIR: modelDir, PORT: '0' },
        /listening (\d+)/,
      ),
    ]);
    servers.push([
      HTTP_CEILING,
      await serve(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'bench', 'http-ceiling.ts')],
        { PORT: '0' },
        /listening (\d+)/,
      ),
    ]);
    for (const [name, env] of Object.entries(envs)) {
      if (references.includes(name)) continue;
      const port = await freePort();
      servers.push([
        name,
        await serve(
          process.execPath,
          ourBundle,
          { ...RUNTIME_DEFAULTS, ...ourEnv, ...env, PORT: String(port) },
          { port, probe: '/v2/health/ready' },
        ),
      ]);
    }
  } catch (err) {
    await Promise.all(servers.map(([, s]) => s.stop()));
    throw err;
  }
  const runs: Record<string, LoadResult[]> = {};
  const memory: Record<string, { rssMb: number; peakRssMb: number }[]> = {};
  const rawRounds: RawResult[][] = [];
  try {
    for (const [, s] of servers) await load(s, texts, 4); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      console.log(`round ${r + 1}: (a) raw in-process ONNX Runtime loops (load ${loadavg()[0]?.toFixed(2)})`);
      rawRounds.push(await rawLoop(modelDir, texts));
      console.log(
        `round ${r + 1}: (b) naive server, (c) our server${servers.length > 3 ? ' and variants' : ''}, (d) HTTP ceiling`,
      );
      for (const c of CONCURRENCIES) {
        // Rotate who goes first each round.
        const order = servers.map((_, i) => servers[(i + r) % servers.length] as [string, Served]);
        for (const [name, s] of order) {
          const res = await load(s, texts, c);
          (runs[`${name}${c}`] ??= []).push(res);
          console.log(
            `  round ${r + 1} ${name.padEnd(11)} c=${String(c).padStart(2)}: ${res.requestsPerSecond} req/s, mean ${res.meanMs} ms, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms, CPU ${res.cpuUsPerRequest} us/request (main thread ${res.mainThreadCpuUsPerRequest})${res.errors + res.non2xx ? `, ${res.errors} errors, ${res.non2xx} non-2xx` : ''}`,
          );
        }
      }
      for (const [name, s] of servers) (memory[name] ??= []).push(memoryOf(s.child.pid));
    }
  } finally {
    await Promise.all(servers.map(([, s]) => s.stop()));
  }
  // Medians per raw configuration over the rounds.
  const raw: RawResult[] = (rawRounds[0] ?? []).map((first, i) => {
    const same = rawRounds.map((results) => results[i] as RawResult);
    return {
      sessions: first.sessions,
      threads: first.threads,
      batch: first.batch,
      sorted: first.sorted,
      textsPerSecond: round(median(same.map((x) => x.textsPerSecond)), 1),
      p50Ms: round(median(same.map((x) => x.p50Ms)), 3),
      p99Ms: round(median(same.map((x) => x.p99Ms)), 3),
    };
  });
  const limit = raw.reduce((best, r) => (r.textsPerSecond > best.textsPerSecond ? r : best));
  // The latency floor: one text through one session (the best thread count), nothing else in flight.
  const rawBatch1 = raw
    .filter((r) => r.batch === 1 && r.sessions === 1)
    .reduce((best, r) => (r.p50Ms < best.p50Ms ? r : best));
  const at = (name: string, c: number) => summarize(runs[`${name}${c}`] ?? []);
  const rss = (name: string) => round(median((memory[name] ?? []).map((m) => m.rssMb)), 1);
  const targetsFor = (name: string): Record<string, Target> => ({
    c1P50MinusRawBatch1Ms: target(at(name, 1).p50Ms - rawBatch1.p50Ms, '<=', 1),
    c1ThroughputVsNaive: target(at(name, 1).requestsPerSecond / at('naive', 1).requestsPerSecond, '>=', 1),
    c8ThroughputVsLimit: target(at(name, 8).requestsPerSecond / limit.textsPerSecond, '>=', 1),
    c32ThroughputVsLimit: target(at(name, 32).requestsPerSecond / limit.textsPerSecond, '>=', 1),
    c8P99VsNaive: target(at(name, 8).p99Ms / at('naive', 8).p99Ms, '<=', 0.7),
    c32P99VsNaive: target(at(name, 32).p99Ms / at('naive', 32).p99Ms, '<=', 0.7),
    rssVsOneSession: target(rss(name) / rss('naive'), '<=', 1.3),
  });
  const report: ModelReport = {
    model: label,
    raw,
    rawRounds,
    limit,
    rawBatch1,
    servers: Object.fromEntries(
      servers.map(([name]) => [
        name,
        {
          env: envs[name] ?? {},
          ...Object.fromEntries(CONCURRENCIES.map((c) => [`c${c}`, at(name, c)])),
          memory: memory[name] ?? [],
          rssMb: rss(name),
        },
      ]),
    ),
    // Informational: how far HTTP alone (no model) gets towards the limit at each concurrency.
    httpCeilingVsLimit: Object.fromEntries(
      CONCURRENCIES.map((c) => [
        `c${c}`,
        round(at(HTTP_CEILING, c).requestsPerSecond / limit.textsPerSecond, 3),
      ]),
    ),
    targets: targetsFor('ours'),
    variantTargets: Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, targetsFor(v)])),
  };
  console.log(`\n${label}, medians over rounds:`);
  console.log(`  limit (raw, ${rawName(limit)}): ${limit.textsPerSecond} texts/s`);
  console.log(`  raw batch-1 p50 (${rawName(rawBatch1)}): ${rawBatch1.p50Ms} ms`);
  console.log(
    `  HTTP alone (no model) vs the limit: ${CONCURRENCIES.map((c) => `c=${c} ${report.httpCeilingVsLimit[`c${c}`]}x`).join(', ')}`,
  );
  for (const [name] of servers) {
    for (const c of CONCURRENCIES) {
      const r = at(name, c);
      console.log(
        `  ${name.padEnd(11)} c=${String(c).padStart(2)}: ${r.requestsPerSecond} req/s, mean ${r.meanMs} ms, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, CPU ${r.cpuUsPerRequest} us/request (main thread ${r.mainThreadCpuUsPerRequest})`,
      );
    }
    console.log(`  ${name.padEnd(11)} RSS ${rss(name)} MB`);
  }
  return report;
}

function printTargets(reports: ModelReport[]): void {
  const rows = Object.keys(reports[0]?.targets ?? {});
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  console.log('\ntargets (default settings):');
  console.log(line(['target', ...reports.map((r) => r.model)]));
  console.log(line(['---', ...reports.map(() => '---')]));
  for (const name of rows) {
    console.log(
      line([
        `${name} (${reports[0]?.targets[name]?.target})`,
        ...reports.map((r) => {
          const t = r.targets[name] as Target;
          return `${t.value} ${t.met ? 'MET' : 'NOT MET'}`;
        }),
      ]),
    );
  }
}

async function main(): Promise<void> {
  const loadAverageAtStart = loadavg();
  console.log(`bench:server on ${CORES} cores (${cpus()[0]?.model ?? 'cpu'}), load average ${loadavg()[0]}`);
  const texts = corpus();
  const reports: ModelReport[] = [];
  for (const name of MODELS) {
    const [label, dir] = await (MODEL_CHOICES[name] as () => Promise<[string, string]>)();
    reports.push(await benchModel(label, dir, texts));
  }
  const report = {
    date: new Date().toISOString(),
    machine: {
      cores: CORES,
      cpu: cpus()[0]?.model,
      loadAverageAtStart,
      loadAverageAtEnd: loadavg(),
      note: 'servers rotate order each round; the load averages show whether the CPU was shared',
      node: process.version,
    },
    corpus: { texts: texts.length, words: '4-19 (70%) or 20-59 (30%)', textsPerRequest: 1 },
    settings: {
      rounds: ROUNDS,
      secondsPerRun: SECONDS,
      rawSecondsPerConfig: RAW_SECONDS,
      concurrencies: CONCURRENCIES,
      models: MODELS,
    },
    loadGenerator: 'closed loop, N keep-alive node:http clients on loopback, client-side performance.now()',
    ourRuntimeEnv: RUNTIME_DEFAULTS,
    ourServer: {
      bundle: 'server-template/dist/index.js',
      // Settings passed through from the bench's environment; unset ones take the server's defaults.
      env: Object.fromEntries(
        ['WORKERS', 'INTRA_OP_THREADS', 'MAX_BATCH_SIZE', 'MAX_BATCH_DELAY_MS', 'MAX_BATCH_PADDING']
          .filter((k) => process.env[k] !== undefined)
          .map((k) => [k, process.env[k]]),
      ),
      variants: VARIANTS,
    },
    models: reports,
  };
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await writeFile(join(ROOT, 'bench', 'results', 'server.json'), `${JSON.stringify(report, null, 2)}\n`);
  printTargets(reports);
  for (const [variant] of Object.entries(VARIANTS)) {
    printTargets(reports.map((r) => ({ ...r, targets: r.variantTargets[variant] ?? {} })));
    console.log(`(variant ${variant})`);
  }
  console.log(`load average at start ${loadAverageAtStart.join(' ')}, at end ${loadavg().join(' ')}`);
  console.log('wrote bench/results/server.json');
}

await main();
