/**
 * Process plumbing shared by the test-environment helpers: temp dirs, free loopback ports, finding the
 * Debian binaries (with the named error when one is missing), and child processes that never outlive
 * the test process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** A fresh, unique temp dir (removed by the helper's stop()). */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `pom-${prefix}-`));
}

/** Removes a dir, ignoring a missing one. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

// A port that was free on 127.0.0.1 a moment ago (the smoke test's helper). Used only for servers that
// cannot bind port 0 themselves and report it (docker-registry); callers retry when it was taken meanwhile.
export { freePort } from '../../src/server-process.js';

const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of `command` on PATH (plus the sbin dirs), or undefined. */
export function findCommand(command: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The absolute path of a binary a Debian package provides; throws the error that names the package.
 * Suites needing it fail with this message: nothing is skipped.
 */
export function requireCommand(command: string, debianPackage: string): string {
  const found = findCommand(command);
  if (!found) {
    throw new Error(
      `${command} not found: apt-get install -y ${debianPackage} (or run scripts/install-test-deps.sh)`,
    );
  }
  return found;
}

// Children still running when the test process exits are killed (synchronously: 'exit' handlers
// cannot await). Each child is spawned in its own process group so its own children die with it.
const live = new Set<ChildProcess>();
/** Extra synchronous cleanups for process exit (e.g. a daemon known only by its pidfile). */
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Kills every live child (SIGKILL to its group) and runs the registered cleanups, once each. */
function cleanupNow(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
  live.clear();
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      // best effort at exit
    }
  }
  exitCleanups.clear();
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function onSignal(signal: NodeJS.Signals): void {
  cleanupNow();
  for (const sig of SIGNALS) process.removeListener(sig, onSignal);
  // Nobody else handles it: die of it, as without this hook.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', cleanupNow);
  // The services run in their own process groups, so a Ctrl-C reaches only this process: clean up,
  // then let the signal take its default course.
  for (const sig of SIGNALS) process.on(sig, onSignal);
}

/** Registers a synchronous cleanup to run if the process exits first; returns its remover. */
export function onProcessExit(fn: () => void): () => void {
  installExitHook();
  exitCleanups.add(fn);
  return () => {
    exitCleanups.delete(fn);
  };
}

export interface Service {
  child: ChildProcess;
  /** stdout + stderr so far (bounded), for error messages. */
  output(): string;
  /** Resolves when some output line matches, rejects when the process exits first or on timeout. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const MAX_OUTPUT = 64 * 1024;

/** Spawns a long-running helper process (own process group, killed at exit). */
export function startService(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Service {
  installExitHook();
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > MAX_OUTPUT) out = out.slice(out.length - MAX_OUTPUT);
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}`;
      live.delete(child);
      resolve({ code: -1, signal: null });
    });
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
    for (const l of listeners) l();
  });

  return {
    child,
    output: () => out,
    exited,
    waitForOutput(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(pattern);
          if (m) finish(() => resolve(m));
          else if (done)
            finish(() =>
              reject(new Error(`${command} exited before it was ready. Output:\n${out.slice(-4000)}`)),
            );
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(new Error(`${command} not ready after ${timeoutMs} ms. Output:\n${out.slice(-4000)}`)),
            ),
          timeoutMs,
        );
        const finish = (f: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 5000) {
      if (done) return;
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
      // The group may hold grandchildren that ignored SIGTERM.
      killGroup(child, 'SIGKILL');
    },
  };
}

/** Removes a dir synchronously (for exit handlers). */
export function removeDirSync(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
