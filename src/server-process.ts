/**
 * Runs the staged inference server on the host for the process smoke test: `node <runtime>/index.js`
 * with the downloaded model, on a free loopback port, until it reports ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { UserError } from './errors.js';

export interface RunningServer {
  baseUrl: string;
  /** The server's last log lines (JSON lines), for error messages. */
  logTail(): string[];
  stop(): Promise<void>;
}

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** How long the readiness poll waits between tries (unless `wake` fires first). */
const POLL_MS = 250;

/**
 * Polls `GET /v2/health/ready` until 200. `alive()` returning a string means the server is gone (the
 * string says why) and stops the wait. `wake` (the server's own `ready` log line) cuts the current
 * pause short once, so readiness is seen when the server says so, not up to a poll interval later.
 */
export async function waitForReady(
  baseUrl: string,
  opts: {
    timeoutMs: number;
    alive: () => string | undefined | Promise<string | undefined>;
    what: string;
    wake?: Promise<void>;
  },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let wake = opts.wake?.then(() => 'wake' as const);
  for (;;) {
    const gone = await opts.alive();
    if (gone !== undefined) throw new Error(gone);
    try {
      const res = await fetch(`${baseUrl}/v2/health/ready`, { signal: AbortSignal.timeout(2000) });
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`${opts.what} was not ready after ${Math.round(opts.timeoutMs / 1000)} s`);
    }
    let timer: NodeJS.Timeout | undefined;
    const paused = new Promise<'timer'>((r) => (timer = setTimeout(() => r('timer'), POLL_MS)));
    const why = await Promise.race(wake ? [paused, wake] : [paused]);
    clearTimeout(timer);
    if (why === 'wake') wake = undefined; // once: a server that says ready but is not is polled as usual
  }
}

/** Keeps the last `max` lines of a stream; `onLine` sees each complete line. */
export function lineTail(
  max: number,
  onLine?: (line: string) => void,
): { push(chunk: Buffer | string): void; lines(): string[] } {
  const lines: string[] = [];
  let partial = '';
  return {
    push(chunk) {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        if (!l.trim()) continue;
        lines.push(l);
        onLine?.(l);
      }
      if (lines.length > max) lines.splice(0, lines.length - max);
    },
    lines: () => (partial.trim() ? [...lines, partial] : [...lines]),
  };
}

/** The most useful line of a failed server's log: its last error message, else its last line. */
export function lastErrorLine(lines: string[]): string {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i] ?? '';
    try {
      const rec = JSON.parse(line) as { level?: unknown; msg?: unknown; error?: unknown };
      const lvl =
        typeof rec.level === 'number' ? rec.level >= 50 : rec.level === 'error' || rec.level === 'fatal';
      if (lvl) return String(rec.msg ?? rec.error ?? line);
    } catch {
      if (/error/i.test(line)) return line;
    }
  }
  return lines.at(-1) ?? '(no output)';
}

async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export async function startServerProcess(opts: {
  runtimeDir: string;
  modelDir: string;
  env: Record<string, string>;
  readyTimeoutMs?: number;
  nodePath?: string;
}): Promise<RunningServer> {
  const port = await freePort();
  // The server logs one `ready` line once it serves (server-template/src/server.ts): the poll below
  // then checks at once instead of at its next tick.
  let saidReady = (): void => undefined;
  const wake = new Promise<void>((r) => (saidReady = r));
  const tail = lineTail(50, (line) => {
    if (line.includes('"msg":"ready"')) saidReady();
  });
  const child = spawn(opts.nodePath ?? process.execPath, [join(opts.runtimeDir, 'index.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      ...opts.env,
      MODEL_DIR: opts.modelDir,
      PORT: String(port),
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => tail.push(c));
  child.stderr?.on('data', (c: Buffer) => tail.push(c));
  let spawnError: Error | undefined;
  child.once('error', (e) => (spawnError = e));
  const baseUrl = `http://127.0.0.1:${port}`;
  try {
    await waitForReady(baseUrl, {
      timeoutMs: opts.readyTimeoutMs ?? 120_000,
      what: 'The inference server',
      wake,
      alive: () => {
        if (spawnError) return `could not start node: ${spawnError.message}`;
        if (child.exitCode !== null) return `exited with code ${child.exitCode}`;
        return undefined;
      },
    });
  } catch (e) {
    await stopChild(child, 5000);
    throw new UserError(
      `Smoke test (process): the inference server did not start: ${(e as Error).message}: ${lastErrorLine(tail.lines())}; nothing was pushed.`,
      'Check that the model is a valid ONNX file the server can feed (see the server log above).',
    );
  }
  return { baseUrl, logTail: () => tail.lines(), stop: () => stopChild(child, 15_000) };
}
