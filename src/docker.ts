/**
 * The local Docker engine, used only for the optional container smoke test: load the built image in
 * docker-archive format (every engine version loads it), run it with host networking, remove it.
 */
import { UserError } from './errors.js';
import type { Logger } from './util/log.js';
import { runTool, type CommandResult } from './util/exec.js';
import { freePort, lastErrorLine, type RunningServer, waitForReady } from './server-process.js';

export type RunCommand = (args: string[], opts?: { timeoutMs?: number }) => Promise<CommandResult>;

/** Runs the `docker` client (DOCKER_HOST from the environment) through @actions/exec, silently. */
export const runDocker: RunCommand = (args, opts = {}) => runTool('docker', args, opts);

/** The engine's version when a Docker engine answers, else undefined. */
export async function dockerEngineVersion(run: RunCommand = runDocker): Promise<string | undefined> {
  const r = await run(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 15_000 });
  const v = r.stdout.trim();
  return r.code === 0 && v ? v : undefined;
}

/** Loads a docker-archive tar and runs it; resolves once the server inside is ready. */
export async function runImageContainer(opts: {
  archive: string;
  imageRef: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  run?: RunCommand;
  /** Where the container's last log lines are printed when it fails to start. */
  logger?: Logger;
}): Promise<RunningServer> {
  const run = opts.run ?? runDocker;
  const fail = (why: string, logShown = false) =>
    new UserError(
      `Smoke test (container): ${why}; nothing was pushed.`,
      `${logShown ? "The container's last log lines are printed above: fix what they name (a startup error says how)" : 'Check the output above'}; set 'smoke-test: process' to skip the container test on runners whose Docker engine cannot run the image.`,
    );
  const loaded = await run(['load', '-i', opts.archive], { timeoutMs: 600_000 });
  if (loaded.code !== 0) throw fail(`docker load failed: ${loaded.stderr.trim()}`);
  const port = await freePort();
  const envArgs = Object.entries({ ...opts.env, PORT: String(port) }).flatMap(([k, v]) => [
    '-e',
    `${k}=${v}`,
  ]);
  const started = await run(['run', '-d', '--network', 'host', ...envArgs, opts.imageRef], {
    timeoutMs: 120_000,
  });
  const id = started.stdout.trim();
  if (started.code !== 0 || !id) throw fail(`docker run failed: ${started.stderr.trim()}`);
  const logs = async () => {
    const r = await run(['logs', '--tail', '50', id], { timeoutMs: 15_000 });
    return (r.stdout + r.stderr).split('\n').filter((l) => l.trim());
  };
  const remove = async () => {
    await run(['stop', '-t', '15', id], { timeoutMs: 60_000 });
    await run(['rm', '-f', id], { timeoutMs: 60_000 });
    await run(['rmi', opts.imageRef], { timeoutMs: 60_000 });
  };
  const baseUrl = `http://127.0.0.1:${port}`;
  const alive = async () => {
    const r = await run(['inspect', '-f', '{{.State.Running}} {{.State.ExitCode}}', id], {
      timeoutMs: 15_000,
    });
    const [running, code] = r.stdout.trim().split(' ');
    return running === 'true' ? undefined : `the container exited with code ${code ?? '?'}`;
  };
  try {
    await waitForReady(baseUrl, { timeoutMs: opts.readyTimeoutMs ?? 180_000, what: 'The container', alive });
  } catch (e) {
    const lines = await logs();
    await remove();
    if (lines.length > 0) {
      opts.logger?.info(
        [`The container's last ${lines.length} log line(s):`, ...lines.map((l) => `  ${l}`)].join('\n'),
      );
    }
    throw fail(
      `the server in the container did not become ready (${(e as Error).message}): ${lastErrorLine(lines)}`,
      lines.length > 0 && opts.logger !== undefined,
    );
  }
  let tail: string[] = [];
  return {
    baseUrl,
    logTail: () => tail,
    stop: async () => {
      tail = await logs();
      await remove();
    },
  };
}
