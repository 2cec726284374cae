/**
 * `npx tsx bench/layer-reuse.ts`: what a re-run of the same model costs when layer reuse verifies the
 * registry's blobs (fetch, digest check, decompress to the diff_id). A local registry behind the
 * counting proxy holds the base and the image of an earlier run; each repetition builds again from a
 * fresh work dir with `reuseLayersFrom` the earlier tag and pushes it, as the action does on a re-run,
 * then once more without reuse (every layer compressed here) for comparison. Prints the build and push
 * seconds, the bytes read from and sent to the registry and the blobs uploaded, per repetition
 * (BENCH_REPS, default 3). Not a test: nothing here asserts a time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImage, parseImageReference, pushImage, type BuildOptions } from '../src/image/index.js';
import { stageRuntime } from '../src/runtime/index.js';
import { silentLogger } from '../src/util/log.js';
import { pushBaseImage, startRegistry } from '../__tests__/env/index.js';
import { benchTransformer } from '../__tests__/fixtures/models.js';
import { startCountingProxy } from './lib/counting-proxy.js';

const REPS = Number(process.env['BENCH_REPS'] ?? 3);
const PLATFORMS = ['linux/amd64', 'linux/arm64'];

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'pom-bench-reuse-'));
  const reg = await startRegistry({ auth: 'none' });
  const proxy = await startCountingProxy(Number(reg.host.split(':')[1]));
  try {
    await pushBaseImage(reg, 'base/node', 'latest');
    const cacheDir = join(work, 'cache');
    const runtime: Record<string, string> = {};
    for (const p of PLATFORMS) runtime[p] = (await stageRuntime(p, { logger: silentLogger, cacheDir })).dir;
    const model = await benchTransformer({ layers: 1, hidden: 64, heads: 2, seed: 2 });
    const opts = (workDir: string): BuildOptions => ({
      base: { image: `${proxy.host}/base/node:latest`, platforms: PLATFORMS },
      model: { dir: model, name: 'bench', version: '1', sha256: 'c'.repeat(64), source: 'bench' },
      server: { runtime, env: {}, port: 8080 },
      metadata: { labels: {} },
      output: { workDir },
      logger: silentLogger,
    });
    const target = parseImageReference(`${proxy.host}/bench/reuse`);
    const first = await buildImage(opts(join(work, 'first')));
    await pushImage(first, target, ['latest'], { logger: silentLogger });
    const layers = first.platforms.map((p) => p.layers.slice(-2).map((l) => l.size));
    console.log(
      `our layers (compressed bytes, [runtime, model] per platform): ${JSON.stringify(layers)}; ` +
        `${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`,
    );
    // Each repetition: a re-run that reuses (and verifies) the earlier image's layers, then, for
    // comparison, one that compresses every layer itself (no reuse).
    for (let i = 0; i < REPS; i++) {
      for (const mode of ['verified reuse', 'no reuse'] as const) {
        proxy.reset();
        const t0 = performance.now();
        const again = await buildImage({
          ...opts(join(work, `rerun-${i}-${mode.replace(' ', '-')}`)),
          reuse: { from: mode === 'no reuse' ? [] : [`${proxy.host}/bench/reuse:latest`] },
        });
        const t1 = performance.now();
        const pushed = await pushImage(again, target, ['latest'], { logger: silentLogger });
        const t2 = performance.now();
        console.log(
          JSON.stringify({
            rep: i + 1,
            mode,
            sameDigest: again.digest === first.digest,
            buildSeconds: +((t1 - t0) / 1000).toFixed(2),
            pushSeconds: +((t2 - t1) / 1000).toFixed(2),
            bytesReadFromRegistry: proxy.received,
            bytesSentToRegistry: proxy.sent,
            blobsUploaded: pushed.blobsUploaded,
            load: +loadavg()[0]!.toFixed(2),
          }),
        );
      }
    }
  } finally {
    await proxy.stop();
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

await main();
