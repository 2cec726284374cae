/**
 * A private Docker engine (Debian's docker.io dockerd) for the suites that pull and run images:
 * vfs storage (or overlay2 on request), no iptables, no bridge (containers run with `--network host`), its own data root, exec
 * root, unix socket, pidfile and client config, all in one temp dir; nothing listens on TCP.
 * Registries on 127.0.0.0/8 are insecure-allowed by the engine by default.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  makeTempDir,
  onProcessExit,
  removeDir,
  removeDirSync,
  requireCommand,
  startService,
} from './proc.js';

export interface DockerResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DockerEngine {
  /** unix:///.../docker.sock, for DOCKER_HOST */
  host: string;
  /** The client config dir (DOCKER_CONFIG) that `docker login` writes to: private to this engine. */
  configDir: string;
  /** Runs the docker client against this engine; never throws on a non-zero exit. */
  docker(args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }): Promise<DockerResult>;
  stop(): Promise<void>;
}

/** PIDs of processes other than this one whose command line names `dir` (containerd shims, ...). */
function processesUsing(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes(dir + '/') || cmdline.includes(dir + '\0')) pids.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Mount points at or under `dir`, deepest first (dockerd leaves netns and data-root mounts). */
function mountsUnder(dir: string): string[] {
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => unescape(line.split(' ')[4] ?? ''))
    .filter((mp) => mp === dir || mp.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Kills what still runs from `dir` and unmounts what is mounted under it (synchronous: exit-safe). */
function sweep(dir: string): void {
  for (const pid of processesUsing(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function runClient(
  client: string,
  env: NodeJS.ProcessEnv,
  args: string[],
  opts: { input?: Buffer | string; timeoutMs?: number } = {},
): Promise<DockerResult> {
  return new Promise((resolve) => {
    const child = spawn(client, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 600_000);
    child.on('error', (e) => err.push(Buffer.from(`\n${e.message}`)));
    child.on('close', (code) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        code: timedOut ? 124 : (code ?? 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${stderr}\ndocker ${args.join(' ')}: timed out` : stderr,
      });
    });
    child.stdin.on('error', () => undefined); // the client may exit before reading all input
    child.stdin.end(opts.input ?? '');
  });
}

export interface DockerOptions {
  /** dockerd's storage driver: vfs (default, works on any filesystem) or overlay2 (as hosted runners). */
  storageDriver?: 'vfs' | 'overlay2';
  /** The docker client binary (default: the first `docker` on PATH). */
  client?: string;
}

export async function startDocker(opts: DockerOptions = {}): Promise<DockerEngine> {
  const dockerd = requireCommand('dockerd', 'docker.io');
  const client = opts.client ?? requireCommand('docker', 'docker.io');
  if (process.getuid?.() !== 0) {
    throw new Error(
      'startDocker needs root: dockerd (docker.io) runs as root here (CI runs .ci/run as root)',
    );
  }
  const dir = await makeTempDir('docker');
  const removeAtExit = onProcessExit(() => {
    sweep(dir);
    removeDirSync(dir);
  });
  const sock = join(dir, 'docker.sock');
  const pidfile = join(dir, 'docker.pid');
  const configDir = join(dir, 'client-config');
  await mkdir(configDir);
  const daemonJson = join(dir, 'daemon.json');
  await writeFile(daemonJson, '{}\n'); // never read the machine's /etc/docker/daemon.json
  const host = `unix://${sock}`;
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: host, DOCKER_CONFIG: configDir };
  for (const k of ['DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH']) delete env[k];

  const svc = startService(
    dockerd,
    [
      '--config-file',
      daemonJson,
      '--iptables=false',
      '--ip6tables=false',
      '--bridge=none',
      '--userland-proxy=false',
      `--storage-driver=${opts.storageDriver ?? 'vfs'}`,
      '--data-root',
      join(dir, 'data'),
      '--exec-root',
      join(dir, 'exec'),
      '-H',
      host,
      '--pidfile',
      pidfile,
      '--log-level',
      'warn',
    ],
    { cwd: dir },
  );

  const stopDaemon = async (): Promise<void> => {
    let pid: number | undefined;
    try {
      pid = Number((await readFile(pidfile, 'utf8')).trim()) || undefined;
    } catch {
      // not written (yet); the child is the daemon
    }
    await svc.stop(20_000);
    if (pid !== undefined && pid !== svc.child.pid && isAlive(pid)) {
      process.kill(pid, 'SIGTERM');
      for (let waited = 0; isAlive(pid) && waited < 20_000; waited += 100) await sleep(100);
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      while (isAlive(pid)) await sleep(50);
    }
    sweep(dir);
    await removeDir(dir);
    removeAtExit();
  };

  const docker = (args: string[], opts?: { input?: Buffer | string; timeoutMs?: number }) =>
    runClient(client, env, args, opts);

  try {
    let exited = false;
    void svc.exited.then(() => {
      exited = true;
    });
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (exited) throw new Error(`dockerd exited at start. Output:\n${svc.output().slice(-4000)}`);
      const v = await docker(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 });
      if (v.code === 0 && v.stdout.trim()) break;
      if (Date.now() > deadline) {
        throw new Error(`dockerd not ready after 120 s: ${v.stderr}\n${svc.output().slice(-4000)}`);
      }
      await sleep(250);
    }
  } catch (e) {
    await stopDaemon();
    throw e;
  }

  return {
    host,
    configDir,
    docker,
    async stop() {
      // Remove containers first: a running container would hold dockerd's shutdown for its stop timeout.
      const ps = await docker(['ps', '-aq'], { timeoutMs: 30_000 });
      const ids = ps.stdout.split('\n').filter(Boolean);
      if (ps.code === 0 && ids.length > 0) await docker(['rm', '-f', ...ids], { timeoutMs: 60_000 });
      await stopDaemon();
    },
  };
}
