/**
 * `npm run bench:download`: a 1 GiB model blob in Azurite, downloaded through the action's downloader
 * (src/model-source/blob-download.ts: ranges in parallel, written in place, resumable) against
 * `@azure/storage-blob`'s own `BlobClient.downloadToFile` (one streamed GET), in the same run.
 *
 * Each download runs in its own child process (this script with `--child`), so its peak RSS (VmHWM) is
 * its own; the time is measured inside the child from the first request to the file closed, so process
 * start-up is not counted. The contenders alternate order per rep; medians are reported. Goals: our
 * throughput at least 0.8x the SDK's, our peak RSS at most 200 MB. Writes bench/results/download.json.
 * Not a test: nothing here asserts a time. Env: BENCH_REPS (3), BENCH_MB (1024).
 */
import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { BlobServiceClient, ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { startAzurite } from '../__tests__/env/index.js';
import type { BlobAccess } from '../src/model-source/azureml.js';
import { containerClientFor, downloadBlobs } from '../src/model-source/blob-download.js';
import { silentLogger } from '../src/util/log.js';
import { loadAverages, machineFacts, median, round } from './lib/stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const MB = Number(process.env['BENCH_MB'] ?? 1024);
const CONTAINER = 'models';
const BLOB = 'big/model.onnx';
const GOALS = { throughputRatio: 0.8, peakRssMB: 200 };

type Contender = 'ours' | 'sdk';
interface ChildArgs {
  who: Contender;
  endpoint: string;
  accountName: string;
  accountKey: string;
  dest: string;
}
interface Run {
  seconds: number;
  mbPerSecond: number;
  peakRssMB: number;
}

const peakRss = (): number =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;

/** One download in this (child) process; prints its Run as JSON. */
async function child(a: ChildArgs): Promise<void> {
  const t0 = performance.now();
  let bytes: number;
  if (a.who === 'ours') {
    // What fetchModel does for an account-key datastore (blob-download.ts's defaults).
    const access: BlobAccess = {
      containerUrl: `${a.endpoint}/${CONTAINER}`,
      prefix: BLOB,
      auth: { kind: 'key', accountName: a.accountName, accountKey: a.accountKey },
      via: 'bench',
    };
    const files = await downloadBlobs(containerClientFor(access, undefined), access, {
      destDir: a.dest,
      logger: silentLogger,
    });
    bytes = files.reduce((n, f) => n + (f.size ?? 0), 0);
  } else {
    const container = new ContainerClient(
      `${a.endpoint}/${CONTAINER}`,
      new StorageSharedKeyCredential(a.accountName, a.accountKey),
    );
    await mkdir(a.dest, { recursive: true });
    await container.getBlobClient(BLOB).downloadToFile(join(a.dest, 'model.onnx'));
    bytes = (await stat(join(a.dest, 'model.onnx'))).size;
  }
  const seconds = (performance.now() - t0) / 1000;
  const run: Run = {
    seconds: round(seconds),
    mbPerSecond: round(bytes / 1e6 / seconds),
    peakRssMB: round(peakRss() / 1e6, 1),
  };
  console.log(JSON.stringify(run));
}

function runChild(a: ChildArgs): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child'], {
      env: { ...process.env, BENCH_CHILD: JSON.stringify(a) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop() as string) as Run)
        : reject(new Error(`${a.who} download failed (${code}): ${out}`)),
    );
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pom-bench-download-'));
  const az = await startAzurite();
  const loadAtStart = loadAverages();
  try {
    const service = new BlobServiceClient(
      az.blobEndpoint,
      new StorageSharedKeyCredential(az.accountName, az.accountKey),
    );
    const container = service.getContainerClient(CONTAINER);
    await container.create();
    // Incompressible bytes, streamed up in 8 MiB blocks (never held whole).
    const size = MB * 1024 * 1024;
    let left = size;
    const source = Readable.from(
      (function* () {
        while (left > 0) {
          const n = Math.min(left, 8 * 1024 * 1024);
          left -= n;
          yield randomFillSync(Buffer.allocUnsafe(n));
        }
      })(),
    );
    await container.getBlockBlobClient(BLOB).uploadStream(source, 8 * 1024 * 1024, 4);
    console.log(
      `blob: ${MB} MiB in Azurite; ${cpus().length} CPUs, load ${loadAtStart.join(' ')}; ${REPS} rep(s)`,
    );

    const runs: Record<Contender, Run[]> = { ours: [], sdk: [] };
    for (let rep = 0; rep < REPS; rep++) {
      const order: Contender[] = rep % 2 === 0 ? ['ours', 'sdk'] : ['sdk', 'ours'];
      for (const who of order) {
        const dest = join(work, `${who}-${rep}`);
        const run = await runChild({
          who,
          endpoint: az.blobEndpoint,
          accountName: az.accountName,
          accountKey: az.accountKey,
          dest,
        });
        await rm(dest, { recursive: true, force: true });
        runs[who].push(run);
        console.log(
          `rep ${rep + 1}/${REPS} ${who.padEnd(4)} ${run.seconds.toFixed(2)} s, ${run.mbPerSecond} MB/s, peak RSS ${run.peakRssMB} MB, load ${round(loadavg()[0] ?? 0)}`,
        );
      }
    }

    const med = (who: Contender) => ({
      seconds: round(median(runs[who].map((r) => r.seconds))),
      mbPerSecond: round(median(runs[who].map((r) => r.mbPerSecond))),
      peakRssMB: round(median(runs[who].map((r) => r.peakRssMB)), 1),
      runs: runs[who],
    });
    const ours = med('ours');
    const sdk = med('sdk');
    const ratio = round(ours.mbPerSecond / sdk.mbPerSecond, 3);
    const targets = {
      throughputRatio: {
        value: ratio,
        goal: `>= ${GOALS.throughputRatio}`,
        met: ratio >= GOALS.throughputRatio,
      },
      oursPeakRssMB: {
        value: ours.peakRssMB,
        goal: `<= ${GOALS.peakRssMB}`,
        met: ours.peakRssMB <= GOALS.peakRssMB,
      },
    };
    const out = {
      ...machineFacts(loadAtStart),
      reps: REPS,
      blobBytes: size,
      ours: 'downloadBlobs (src/model-source/blob-download.ts) with the action defaults, account key, in a child process',
      sdk: '@azure/storage-blob BlobClient.downloadToFile, default pipeline, account key, in a child process',
      peakRss: "the child process's VmHWM (node + the client + buffers)",
      results: { ours, sdk },
      targets,
    };
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
    await writeFile(join(ROOT, 'bench', 'results', 'download.json'), `${JSON.stringify(out, null, 2)}\n`);
    const row = (name: string, value: string, goal: string, met: boolean) =>
      console.log(`${name.padEnd(28)} ${value.padStart(12)}  ${goal.padEnd(10)} ${met ? 'met' : 'NOT met'}`);
    console.log(`\n${'target'.padEnd(28)} ${'value'.padStart(12)}  goal`);
    row('throughput ours / sdk', `${ratio}x`, targets.throughputRatio.goal, targets.throughputRatio.met);
    row('peak RSS ours (MB)', String(ours.peakRssMB), targets.oursPeakRssMB.goal, targets.oursPeakRssMB.met);
    console.log(
      `ours ${ours.mbPerSecond} MB/s (${ours.seconds} s), sdk ${sdk.mbPerSecond} MB/s (${sdk.seconds} s, peak RSS ${sdk.peakRssMB} MB)`,
    );
    console.log('wrote bench/results/download.json');
  } finally {
    await az.stop();
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child'))
  await child(JSON.parse(process.env['BENCH_CHILD'] as string) as ChildArgs);
else await main();
