/**
 * `npm run bench:server`: how close the inference server gets to the machine's limit.
 *
 *  (a) the limit: raw in-process ONNX Runtime loops (tokenize + run) on the benchmark encoder, the best
 *      texts/s of: one session with all intra-op threads; one single-threaded session per core, all
 *      running concurrently; and batched runs (4, 8, 16) on length-sorted texts (least padding) with
 *      either layout. Batch-1 latency of the one-session-all-threads loop is the latency floor.
 *  (b) a naive per-request server (bench/naive-server.ts: tokenize + run in the HTTP handler).
 *  (c) our server, from the shipped bundle, default settings;
 *  (d) our server with WORKERS=1 INTRA_OP_THREADS=<cores> (the latency-bound setting).
 *  (b)-(d) are driven by our own closed-loop load generator (N keep-alive clients on loopback, each
 *  sending its next request when the previous answers; latency measured client-side with
 *  performance.now(), so sub-millisecond differences show) at concurrency 1 and 32 with mixed
 *  sentence lengths, one text per request. Each round runs (a), then (b)-(d) in rotating order;
 *  medians over rounds are reported.
 *
 * Writes bench/results/server.json and prints the ratios against the targets. Timing goals live here,
 * never in tests. Env: BENCH_ROUNDS (3), BENCH_SECONDS (8), BENCH_RAW_SECONDS (2 per configuration).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { readModelDir } from '../server-template/src/model-dir.js';
import { textPipelineFor } from './text-pipeline.js';
import { benchTransformer } from '../scripts/models/cache.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const RAW_SECONDS = Number(process.env.BENCH_RAW_SECONDS ?? 2);
const CORES = availableParallelism();

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
const rawName = (c: RawConfig): string =>
  `${c.sessions} session(s) x ${c.threads} thread(s), batch ${c.batch}${c.sorted ? ' length-sorted' : ''}`;

async function rawLoop(modelDir: string, texts: string[]): Promise<RawResult[]> {
  const files = await readModelDir(modelDir, undefined);
  const results: RawResult[] = [];
  for (const config of RAW_CONFIGS) {
    const sessions = await Promise.all(
      Array.from({ length: config.sessions }, () =>
        ort.InferenceSession.create(files.onnxPath, {
          intraOpNumThreads: config.threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        }),
      ),
    );
    const text = textPipelineFor((sessions[0] as ort.InferenceSession).inputNames, files);
    // Batches: consecutive texts, or consecutive texts of the length-sorted corpus (in a fixed shuffle).
    const encoded = texts.map((t) => text.encode(t));
    const order = texts.map((_, i) => i);
    if (config.sorted) order.sort((a, b) => (encoded[a]?.ids.length ?? 0) - (encoded[b]?.ids.length ?? 0));
    const batches: number[][] = [];
    for (let i = 0; i + config.batch <= order.length; i += config.batch)
      batches.push(order.slice(i, i + config.batch));
    const runBatch = async (session: ort.InferenceSession, batch: number[]): Promise<void> => {
      // Tokenizing is part of the work a server does per request: encode again, as it would.
      const feeds = text.feeds(batch.map((i) => text.encode(texts[i] as string)));
      const tensors = Object.fromEntries(
        Object.entries(feeds).map(([n, t]) => [n, new ort.Tensor('int64', t.data as BigInt64Array, t.dims)]),
      );
      await session.run(tensors);
    };
    for (const session of sessions) await runBatch(session, batches[0] as number[]); // warm-up
    const latencies: number[] = [];
    let done = 0;
    let next = 0;
    const start = performance.now();
    await Promise.all(
      sessions.map(async (session) => {
        while (performance.now() - start < RAW_SECONDS * 1000) {
          const batch = batches[next++ % batches.length] as number[];
          const t0 = performance.now();
          await runBatch(session, batch);
          latencies.push(performance.now() - t0);
          done += batch.length;
        }
      }),
    );
    const seconds = (performance.now() - start) / 1000;
    const r: RawResult = {
      ...config,
      textsPerSecond: round(done / seconds, 1),
      p50Ms: round(percentile(latencies, 50), 3),
      p99Ms: round(percentile(latencies, 99), 3),
    };
    console.log(`  raw ${rawName(config)}: ${r.textsPerSecond} texts/s, p50 ${r.p50Ms} ms`);
    results.push(r);
    await Promise.all(sessions.map((s) => s.release()));
  }
  return results;
}

interface Served {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

function serve(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve({
          url: `http://127.0.0.1:${m[1]}`,
          child,
          stop: () =>
            new Promise((r) => {
              child.once('exit', () => r());
              child.kill('SIGTERM');
            }),
        });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited (${code}):\n${out}`)));
  });
}

interface LoadResult {
  connections: number;
  requestsPerSecond: number;
  /** Client-side latency (performance.now() around each request), ms with microsecond resolution. */
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/**
 * Closed-loop load on loopback: `connections` keep-alive clients, each POSTing one text to /predict and
 * sending the next when the answer is complete, for SECONDS. Written here rather than with autocannon,
 * whose latency histogram has 1 ms resolution: the latency target is 1 ms.
 */
async function load(url: string, texts: string[], connections: number): Promise<LoadResult> {
  const { hostname, port } = new URL(url);
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
  return {
    connections,
    requestsPerSecond: round(latencies.length / seconds, 1),
    meanMs: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length), 3),
    p50Ms: round(percentile(latencies, 50), 3),
    p99Ms: round(percentile(latencies, 99), 3),
    errors,
    non2xx,
  };
}

function summarize(runs: LoadResult[]): LoadResult & { runs: LoadResult[] } {
  return {
    connections: runs[0]?.connections ?? 0,
    requestsPerSecond: round(median(runs.map((r) => r.requestsPerSecond)), 1),
    meanMs: round(median(runs.map((r) => r.meanMs)), 3),
    p50Ms: round(median(runs.map((r) => r.p50Ms)), 3),
    p99Ms: round(median(runs.map((r) => r.p99Ms)), 3),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
    runs,
  };
}

async function main(): Promise<void> {
  const loadAverageAtStart = loadavg();
  console.log(`bench:server on ${CORES} cores (${cpus()[0]?.model ?? 'cpu'}), load average ${loadavg()[0]}`);
  const modelDir = await benchTransformer();
  const texts = corpus();
  // Each round measures (a) the raw loops, then (b)-(d): the machine's noise hits them all alike.
  const rawRounds: RawResult[][] = [];
  const ourEnv = { MODEL_DIR: modelDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };
  const ourReady = /"port":(\d+)[^\n]*"msg":"ready"/;
  const ourBundle = [join(ROOT, 'server-template', 'dist', 'index.js')];
  const servers: [string, Served][] = [
    [
      'naive',
      await serve(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'bench', 'naive-server.ts')],
        { MODEL_DIR: modelDir, PORT: '0' },
        /listening (\d+)/,
      ),
    ],
    ['ours', await serve(process.execPath, ourBundle, ourEnv, ourReady)],
    [
      'oursLatency',
      await serve(
        process.execPath,
        ourBundle,
        { ...ourEnv, WORKERS: '1', INTRA_OP_THREADS: String(CORES) },
        ourReady,
      ),
    ],
  ];
  const runs: Record<string, LoadResult[]> = {};
  try {
    for (const [, s] of servers) await load(s.url, texts, 4); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      console.log(`round ${r + 1}: (a) raw in-process ONNX Runtime loops (load ${loadavg()[0]?.toFixed(2)})`);
      rawRounds.push(await rawLoop(modelDir, texts));
      console.log(`round ${r + 1}: (b) naive server, (c) our server, (d) ours with WORKERS=1`);
      for (const c of [1, 32]) {
        // Rotate who goes first each round.
        const order = servers.map((_, i) => servers[(i + r) % servers.length] as [string, Served]);
        for (const [name, s] of order) {
          const res = await load(s.url, texts, c);
          (runs[`${name}${c}`] ??= []).push(res);
          console.log(
            `  round ${r + 1} ${name.padEnd(11)} c=${String(c).padStart(2)}: ${res.requestsPerSecond} req/s, mean ${res.meanMs} ms, p50 ${res.p50Ms} ms, p99 ${res.p99Ms} ms${res.errors + res.non2xx ? `, ${res.errors} errors, ${res.non2xx} non-2xx` : ''}`,
          );
        }
      }
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
  const naive1 = summarize(runs['naive1'] ?? []);
  const ours1 = summarize(runs['ours1'] ?? []);
  const naive32 = summarize(runs['naive32'] ?? []);
  const ours32 = summarize(runs['ours32'] ?? []);
  const latency1 = summarize(runs['oursLatency1'] ?? []);
  const latency32 = summarize(runs['oursLatency32'] ?? []);
  // The limit is a true upper bound now (the best of every raw layout), so no server reaches 1.0x: the
  // throughput target leaves 10% for HTTP, JSON and scheduling.
  const targetsFor = (c1: LoadResult, c32: LoadResult) => ({
    c32ThroughputVsLimit: {
      value: round(c32.requestsPerSecond / limit.textsPerSecond, 3),
      target: '>= 0.9',
      met: c32.requestsPerSecond >= 0.9 * limit.textsPerSecond,
    },
    c32P99VsNaive: {
      value: round(c32.p99Ms / naive32.p99Ms, 3),
      target: '<= 0.7',
      met: c32.p99Ms <= 0.7 * naive32.p99Ms,
    },
    c1P50MinusRawBatch1Ms: {
      value: round(c1.p50Ms - rawBatch1.p50Ms, 3),
      target: '<= 1.0',
      met: c1.p50Ms - rawBatch1.p50Ms <= 1,
    },
  });
  const targets = targetsFor(ours1, ours32);
  const latencyTargets = targetsFor(latency1, latency32);
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
    model: 'benchTransformer() defaults: 4 layers x 256 hidden x 4 heads, RoBERTa-style IO',
    corpus: { texts: texts.length, words: '4-19 (70%) or 20-59 (30%)', textsPerRequest: 1 },
    settings: { rounds: ROUNDS, secondsPerRun: SECONDS, rawSecondsPerConfig: RAW_SECONDS },
    loadGenerator: 'closed loop, N keep-alive node:http clients on loopback, client-side performance.now()',
    ourServer: {
      bundle: 'server-template/dist/index.js',
      // Settings passed through from the bench's environment; unset ones take the server's defaults.
      env: Object.fromEntries(
        ['WORKERS', 'INTRA_OP_THREADS', 'MAX_BATCH_SIZE', 'MAX_BATCH_DELAY_MS', 'MAX_BATCH_PADDING']
          .filter((k) => process.env[k] !== undefined)
          .map((k) => [k, process.env[k]]),
      ),
    },
    raw,
    rawRounds,
    limit,
    rawBatch1,
    naive: { c1: naive1, c32: naive32 },
    ours: { c1: ours1, c32: ours32 },
    oursLatencySetting: {
      env: { WORKERS: '1', INTRA_OP_THREADS: String(CORES) },
      c1: latency1,
      c32: latency32,
    },
    targets,
    latencySettingTargets: latencyTargets,
  };
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  await writeFile(join(ROOT, 'bench', 'results', 'server.json'), `${JSON.stringify(report, null, 2)}\n`);
  console.log('\nmedians over rounds:');
  console.log(`  limit (raw, ${rawName(limit)}): ${limit.textsPerSecond} texts/s`);
  console.log(`  raw batch-1 p50 (${rawName(rawBatch1)}): ${rawBatch1.p50Ms} ms`);
  for (const [name, c1, c32] of [
    ['naive', naive1, naive32],
    ['ours', ours1, ours32],
    ['ours WORKERS=1', latency1, latency32],
  ] as const) {
    for (const r of [c1, c32]) {
      console.log(
        `  ${name.padEnd(14)} c=${String(r.connections).padStart(2)}: ${r.requestsPerSecond} req/s, mean ${r.meanMs} ms, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms`,
      );
    }
  }
  for (const [label, ts] of [
    ['default', targets],
    ['WORKERS=1', latencyTargets],
  ] as const) {
    for (const [name, t] of Object.entries(ts)) {
      console.log(`  ${label} ${name}: ${t.value} (target ${t.target}) ${t.met ? 'MET' : 'NOT MET'}`);
    }
  }
  console.log('wrote bench/results/server.json');
}

await main();
