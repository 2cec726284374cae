/**
 * The docker baseline the benchmarks compare our pipeline with: `docker build` + `docker push` at its best
 * on a hosted runner.
 *
 * BuildKit (DOCKER_BUILDKIT=1, Debian's 20.10 client builds with BuildKit without buildx), dockerd on
 * overlay2, a Dockerfile with the runtime layer before the model layer, `--build-arg
 * BUILDKIT_INLINE_CACHE=1 --cache-from <repo>:latest`, and a clean daemon per run (a new data root: the
 * only cache is the registry). The build context (server runtime + model) is prepared before the clock
 * starts, as a checkout would hold it. Secondary row: the classic builder (DOCKER_BUILDKIT=0) on vfs
 * without --cache-from (the old baseline).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { startDocker, type DockerEngine } from '../../__tests__/env/index.js';
import type { CountingProxy } from './counting-proxy.js';

export type Builder = 'buildkit' | 'classic';

/** What the result files say each docker row is. */
export const DOCKER_BUILDKIT_DESCRIPTION =
  'dockerd 20.10 overlay2, new data root per run, DOCKER_BUILDKIT=1, --build-arg BUILDKIT_INLINE_CACHE=1 --cache-from <repo>:latest, runtime layer before model layer, context prepared before the clock; linux/amd64 only';
export const DOCKER_CLASSIC_DESCRIPTION =
  'secondary: DOCKER_BUILDKIT=0 on vfs, no --cache-from, new data root per run; linux/amd64 only';

/** One timed docker build + push. */
export interface DockerRun {
  seconds: number;
  bytesUploaded: number;
  /** `docker build` and the two `docker push`es, timed apart. */
  stages: { build: number; push: number };
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * The docker client that builds with BuildKit without buildx: clients before 23.0 have the builder
 * built in (Debian's docker.io 20.10); later ones need the buildx plugin, absent here.
 */
export function builtinBuildkitClient(): string {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'docker');
    if (!existsSync(candidate)) continue;
    const r = spawnSync(candidate, ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' });
    const major = Number(/^(\d+)\./.exec(r.stdout.trim())?.[1]);
    if (major > 0 && major < 23) return candidate;
  }
  throw new Error(
    'no docker client < 23 on PATH (apt-get install docker.io): BuildKit needs buildx otherwise',
  );
}

/** A clean daemon (new data root), started and stopped outside the clock. */
export async function withDaemon<T>(
  client: string,
  builder: Builder,
  f: (d: DockerEngine) => Promise<T>,
): Promise<T> {
  // The engine's client takes its environment at start: choose the builder there.
  process.env['DOCKER_BUILDKIT'] = builder === 'buildkit' ? '1' : '0';
  const d = await startDocker({ storageDriver: builder === 'buildkit' ? 'overlay2' : 'vfs', client });
  try {
    return await f(d);
  } finally {
    await d.stop();
    spawnSync('sync');
  }
}

/**
 * The baseline against one registry (behind `proxy`, which counts the bytes pushed): `runtimeDir` is
 * the server runtime staged for linux/amd64, `base` the base image reference.
 */
export function dockerBaseline(opts: {
  work: string;
  client: string;
  proxy: CountingProxy;
  base: string;
  runtimeDir: string;
}) {
  const { work, client, proxy, base, runtimeDir } = opts;
  const host = proxy.host;

  // Docker's build context: the same server runtime ours stages for linux/amd64, and the model.
  const context = async (model: string): Promise<string> => {
    const ctx = await mkdtemp(join(work, 'ctx-'));
    await cp(runtimeDir, join(ctx, 'server'), { recursive: true });
    await cp(model, join(ctx, 'model'), { recursive: true });
    // What a careful user writes: the rarely-changing runtime layer first, the model layer last.
    await writeFile(
      join(ctx, 'Dockerfile'),
      [
        `FROM ${base}`,
        'WORKDIR /app',
        'COPY server /app/server',
        'ENV MODEL_DIR=/app/model PORT=8080 NODE_ENV=production',
        'EXPOSE 8080',
        'USER 65532:65532',
        'ENTRYPOINT ["node", "/app/server/index.js"]',
        'COPY model /app/model',
        '',
      ].join('\n'),
    );
    return ctx;
  };

  const dockerBuildPush = async (
    d: DockerEngine,
    builder: Builder,
    repo: string,
    model: string,
  ): Promise<DockerRun> => {
    const ctx = await context(model);
    const ref = `${host}/${repo}`;
    const run = async (args: string[]): Promise<void> => {
      const r = await d.docker(args, { timeoutMs: 600_000 });
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: ${r.stderr}`);
    };
    proxy.reset();
    const t0 = performance.now();
    await run([
      'build',
      '-q',
      ...(builder === 'buildkit'
        ? ['--build-arg', 'BUILDKIT_INLINE_CACHE=1', '--cache-from', `${ref}:latest`]
        : []),
      '-t',
      `${ref}:v`,
      '-t',
      `${ref}:latest`,
      ctx,
    ]);
    const built = (performance.now() - t0) / 1000;
    await run(['push', `${ref}:v`]);
    await run(['push', `${ref}:latest`]);
    const seconds = round((performance.now() - t0) / 1000);
    await rm(ctx, { recursive: true, force: true });
    return {
      seconds,
      bytesUploaded: proxy.sent,
      stages: { build: round(built), push: round(seconds - built) },
    };
  };

  return {
    /** Untimed set-up: push a version with docker (BuildKit, inline cache) from its own daemon. */
    setup: (repo: string, model: string): Promise<DockerRun> =>
      withDaemon(client, 'buildkit', (d) => dockerBuildPush(d, 'buildkit', repo, model)),
    /** One timed build + push of `model` to `<host>/<repo>` from a clean daemon. */
    run: (builder: Builder, repo: string, model: string): Promise<DockerRun> =>
      withDaemon(client, builder, (d) => dockerBuildPush(d, builder, repo, model)),
  };
}
