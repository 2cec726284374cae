/**
 * `npm run bench:package`: our CLI as a fresh runner runs it vs `docker build` + `docker push` at its
 * best, on the same local registry (behind a byte-counting proxy).
 *
 * Ours: a checkout of HEAD without node_modules (git archive, plus the working tree's dist/ bundles, the
 * code under test), run as `node dist/cli/index.js` with an empty tool cache, as on a fresh hosted
 * runner: the runtime comes verified from the previous image's layers when the registry has them (their
 * diff_ids ship with the action), else from the npm registry (cold). Per-stage times come from the
 * CLI's own `Stage times:` line (stages overlap), start-up from its first line's arrival; docker's
 * build and push are timed apart.
 *
 * Docker (main baseline): what a careful user of a hosted runner gets, BuildKit with the registry's
 * inline cache from a clean daemon per run; secondary row: the classic builder (bench/lib/docker-baseline.ts).
 *
 * Scenarios (the registry always holds the base image):
 *   fresh      a new model version; the registry holds the previous version (small model);
 *   fresh-big  the same with a model of BENCH_BIG_MB (>= 100 MB);
 *   cold       a new repository (no previous version);
 *   rerun      the same model version again (ours must upload 0 blobs).
 * Each scenario runs BENCH_REPS times (default 3); within a rep the contenders alternate order. Medians
 * are reported. Writes bench/results/package.json. Not a test: nothing here asserts a time.
 * Env: BENCH_REPS, BENCH_BIG_MB (120), BENCH_SCENARIOS (comma list, default all), BENCH_CONTENDERS
 * (comma list, e.g. `ours-2p-smoke` for a quick look at one contender's stages; default all).
 */
import { execFileSync, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stageRuntime } from '../src/runtime/index.js';
import { silentLogger } from '../src/util/log.js';
import { pushBaseImage, startRegistry } from '../__tests__/env/index.js';
import { benchTransformer } from '../__tests__/fixtures/models.js';
import { startCountingProxy } from './lib/counting-proxy.js';
import {
  builtinBuildkitClient,
  dockerBaseline,
  DOCKER_BUILDKIT_DESCRIPTION,
  DOCKER_CLASSIC_DESCRIPTION,
} from './lib/docker-baseline.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const BIG_MB = Number(process.env['BENCH_BIG_MB'] ?? 120);
const ALL_SCENARIOS = ['fresh', 'fresh-big', 'cold', 'rerun'] as const;
type Scenario = (typeof ALL_SCENARIOS)[number];
const SCENARIOS = (process.env['BENCH_SCENARIOS']?.split(',') ?? ALL_SCENARIOS) as Scenario[];
const CONTENDERS = process.env['BENCH_CONTENDERS']?.split(',');
const AMD64 = ['linux/amd64'];
const BOTH = ['linux/amd64', 'linux/arm64'];

/** One timed run. */
interface Run {
  seconds: number;
  bytesUploaded: number;
  /**
   * Seconds per stage. Ours: startup, download (resolve + download), stage (the runtime), smoke, build,
   * sbom, push (see stagesFrom). Docker: build, push (its context, runtime and model, is ready before).
   */
  stages?: Record<string, number>;
}

type Contender = 'ours-1p' | 'ours-2p' | 'ours-2p-smoke' | 'docker-buildkit' | 'docker-classic';

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const load1 = (): number => round(loadavg()[0] ?? 0);

/**
 * Ours per stage, from the CLI's own `Stage times: download 0.05 s, stage 0.31 s, ...` line (the
 * runtime is fetched while the model downloads and the smoke test runs beside the build, so stages
 * overlap and do not add up to the total), plus `startup`: the process start to its first line (node
 * loading the bundle, parsing inputs).
 */
function stagesFrom(lines: { at: number; text: string }[]): Record<string, number> {
  const out: Record<string, number> = { startup: round((lines[0]?.at ?? 0) / 1000) };
  const times = lines.find((l) => l.text.startsWith('Stage times: '))?.text.slice('Stage times: '.length);
  for (const part of times?.split(', ') ?? []) {
    const m = /^(\S+) ([\d.]+) s$/.exec(part);
    if (m) out[m[1] as string] = round(Number(m[2]));
  }
  return out;
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pom-bench-package-'));
  const client = builtinBuildkitClient();
  const reg = await startRegistry({ auth: 'none' });
  const proxy = await startCountingProxy(Number(reg.host.split(':')[1]));
  const host = proxy.host;
  const loadAtStart = loadavg().map((x) => round(x));
  try {
    await pushBaseImage(reg, 'base/node', 'latest');
    const base = `${host}/base/node:latest`;
    const small = {
      v1: await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 1 }),
      v2: await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 2 }),
    };
    // 12 h^2 float32 weights per layer at hidden 512: 12.6 MB a layer.
    const bigLayers = Math.max(1, Math.ceil(BIG_MB / 12.6));
    const big = SCENARIOS.includes('fresh-big')
      ? {
          v1: await benchTransformer({ layers: bigLayers, hidden: 512, heads: 8, seed: 1 }),
          v2: await benchTransformer({ layers: bigLayers, hidden: 512, heads: 8, seed: 2 }),
        }
      : small;
    const sizes = {
      smallMB: round((await dirSize(small.v2)) / 1e6),
      bigMB: round((await dirSize(big.v2)) / 1e6),
    };
    console.log(
      `models: small ${sizes.smallMB} MB, big ${sizes.bigMB} MB; ${cpus().length} CPUs, load ${loadAtStart.join(' ')}`,
    );

    // The checkout a `uses:` step gets: the repository at HEAD, no node_modules; bundles from the tree.
    const checkout = join(work, 'checkout');
    await mkdir(checkout);
    execFileSync('sh', ['-c', `git archive HEAD | tar -x -C "${checkout}"`], { cwd: ROOT });
    for (const d of ['dist', join('server-template', 'dist')]) {
      await rm(join(checkout, d), { recursive: true, force: true });
      await cp(join(ROOT, d), join(checkout, d), { recursive: true });
    }
    const warmCache = join(work, 'warm-tool-cache'); // for untimed set-up pushes only

    /** Runs the CLI; returns its total time, stage times and bytes sent to the registry. */
    const cli = async (opts: {
      model: string;
      repo: string;
      platforms: string[];
      smoke: 'none' | 'process';
      toolCache: string;
    }): Promise<Run> => {
      const home = await mkdtemp(join(work, 'home-'));
      // The machine's environment (TLS trust for the npm registry, proxies) with a fresh home and cache.
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        HOME: home,
        RUNNER_TOOL_CACHE: opts.toolCache,
        RUNNER_TEMP: home,
      };
      const args = [
        join(checkout, 'dist', 'cli', 'index.js'),
        ...['--model', opts.model, '--image', `${host}/${opts.repo}`, '--base-image', base],
        ...['--platforms', opts.platforms.join(','), '--smoke-test', opts.smoke],
      ];
      proxy.reset();
      const lines: { at: number; text: string }[] = [];
      const t0 = performance.now();
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, args, {
          env,
          cwd: checkout,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let buf = '';
        let err = '';
        child.stdout.on('data', (c: Buffer) => {
          buf += c.toString();
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            lines.push({ at: performance.now() - t0, text: buf.slice(0, i) });
            buf = buf.slice(i + 1);
          }
        });
        child.stderr.on('data', (c: Buffer) => (err += c.toString()));
        child.on('close', (c) => {
          if (c !== 0) console.error(err || lines.map((l) => l.text).join('\n'));
          resolve(c);
        });
      });
      const ms = performance.now() - t0;
      await rm(home, { recursive: true, force: true });
      if (code !== 0) throw new Error(`the CLI failed (${code}) packaging ${opts.model}`);
      if (process.env['BENCH_DEBUG'])
        for (const l of lines) console.log(`  ${(l.at / 1000).toFixed(2)} s ${l.text.slice(0, 160)}`);
      return { seconds: round(ms / 1000), bytesUploaded: proxy.sent, stages: stagesFrom(lines) };
    };

    /** Ours on a fresh runner: a new, empty tool cache each run. */
    const ours = async (model: string, repo: string, platforms: string[], smoke: 'none' | 'process') => {
      const toolCache = await mkdtemp(join(work, 'tool-cache-'));
      try {
        return await cli({ model, repo, platforms, smoke, toolCache });
      } finally {
        await rm(toolCache, { recursive: true, force: true });
      }
    };
    /** Untimed set-up: push a model version with ours (warm cache). */
    const oursSetup = (model: string, repo: string, platforms: string[]) =>
      cli({ model, repo, platforms, smoke: 'none', toolCache: warmCache });

    // Docker's build context: the same server runtime ours stages for linux/amd64, and the model.
    const runtimeDir = (
      await stageRuntime('linux/amd64', {
        logger: silentLogger,
        cacheDir: join(work, 'docker-runtime-cache'),
        serverDir: join(checkout, 'server-template', 'dist'),
        useLocalNodeModules: false,
      })
    ).dir;
    const baseline = dockerBaseline({ work, client, proxy, base, runtimeDir });

    const results: Partial<Record<Scenario, Partial<Record<Contender, Run[]>>>> = {};
    for (let rep = 0; rep < REPS; rep++) {
      for (const scenario of SCENARIOS) {
        const models = scenario === 'fresh-big' ? big : small;
        const previous = scenario === 'cold' ? undefined : scenario === 'rerun' ? models.v2 : models.v1;
        const contenders = (
          scenario === 'fresh'
            ? ['ours-1p', 'docker-buildkit', 'ours-2p', 'docker-classic', 'ours-2p-smoke']
            : scenario === 'fresh-big'
              ? ['ours-1p', 'docker-buildkit', 'ours-2p', 'ours-2p-smoke']
              : ['ours-2p', 'docker-buildkit']
        ).filter((c): c is Contender => !CONTENDERS || CONTENDERS.includes(c));
        // Alternate who goes first, so background work hits every contender alike.
        const order = rep % 2 === 0 ? contenders : [...contenders].reverse();
        const runs = (results[scenario] ??= {});
        for (const who of order) {
          const repo = `${who}-${scenario}-r${rep}/model`;
          let run: Run;
          if (who.startsWith('ours')) {
            const platforms = who === 'ours-1p' ? AMD64 : BOTH;
            if (previous) await oursSetup(previous, repo, platforms);
            run = await ours(models.v2, repo, platforms, who === 'ours-2p-smoke' ? 'process' : 'none');
          } else {
            if (previous) await baseline.setup(repo, previous);
            run = await baseline.run(who === 'docker-buildkit' ? 'buildkit' : 'classic', repo, models.v2);
          }
          (runs[who] ??= []).push(run);
          console.log(
            `rep ${rep + 1}/${REPS} ${scenario.padEnd(9)} ${who.padEnd(15)} ${run.seconds.toFixed(2)} s, ${(run.bytesUploaded / 1e6).toFixed(1)} MB up, load ${load1()}${run.stages ? ` ${JSON.stringify(run.stages)}` : ''}`,
          );
        }
      }
    }

    const summary = Object.fromEntries(
      Object.entries(results).map(([scenario, runs]) => {
        const med = Object.fromEntries(
          Object.entries(runs).map(([who, rs]) => {
            const stageNames = Object.keys(rs[0]?.stages ?? {});
            return [
              who,
              {
                seconds: round(median(rs.map((r) => r.seconds))),
                bytesUploaded: median(rs.map((r) => r.bytesUploaded)),
                ...(stageNames.length > 0 && {
                  stages: Object.fromEntries(
                    stageNames.map((s) => [s, round(median(rs.map((r) => r.stages?.[s] ?? 0)))]),
                  ),
                }),
                runs: rs.map((r) => r.seconds),
              },
            ];
          }),
        ) as Record<string, { seconds: number }>;
        const docker = med['docker-buildkit']?.seconds ?? NaN;
        const ratios = Object.fromEntries(
          Object.entries(med)
            .filter(([who]) => who.startsWith('ours'))
            .flatMap(([who, m]) => [
              [`${who}/docker-buildkit`, round(m.seconds / docker, 3)],
              ...(med['docker-classic']
                ? [[`${who}/docker-classic`, round(m.seconds / med['docker-classic'].seconds, 3)]]
                : []),
            ]),
        );
        return [scenario, { ...med, ratios }];
      }),
    );
    const out = {
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        loadavgAtStart: loadAtStart,
        loadavgAtEnd: loadavg().map((x) => round(x)),
        note: 'contenders alternate order per rep; the load averages show whether the CPU was shared',
      },
      node: process.version,
      reps: REPS,
      models: sizes,
      ours: "node dist/cli/index.js from a git archive of HEAD (no node_modules), empty RUNNER_TOOL_CACHE (runtime from the verified registry layers of the previous version, else the npm registry); ours-1p: linux/amd64, ours-2p: linux/amd64+linux/arm64, --smoke-test none unless -smoke (process); stages from the CLI's Stage times line (they overlap)",
      dockerBuildkit: DOCKER_BUILDKIT_DESCRIPTION,
      dockerClassic: DOCKER_CLASSIC_DESCRIPTION,
      scenarios: summary,
    };
    for (const [scenario, s] of Object.entries(summary))
      console.log(`${scenario}: ${JSON.stringify(s.ratios)}`);
    if (CONTENDERS) console.log('BENCH_CONTENDERS is set: bench/results/package.json is left as it is');
    else {
      await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
      await writeFile(join(ROOT, 'bench', 'results', 'package.json'), `${JSON.stringify(out, null, 2)}\n`);
      console.log('wrote bench/results/package.json');
    }
  } finally {
    await proxy.stop();
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

async function dirSize(dir: string): Promise<number> {
  const { readdir, stat } = await import('node:fs/promises');
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

await main();
