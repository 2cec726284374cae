/**
 * Runs the shipped server bundle (server-template/dist/index.js, rebuilt by `npm run bundle -- server`)
 * as a real process on a random loopback port, the way images and the action's smoke test run it.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startService, type Service } from '../env/proc.js';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BUNDLE = join(REPO, 'server-template', 'dist', 'index.js');

export interface RunningServer {
  url: string;
  port: number;
  service: Service;
  stop(): Promise<void>;
}

function serverEnv(modelDir: string, env: Record<string, string>): NodeJS.ProcessEnv {
  const {
    PORT: _p,
    WORKERS: _w,
    INTRA_OP_THREADS: _i,
    MODEL_FILE: _f,
    MODEL_NAME: _n,
    ...rest
  } = process.env;
  return { ...rest, MODEL_DIR: modelDir, HOST: '127.0.0.1', PORT: '0', WORKERS: '1', ...env };
}

/** Starts the bundle on MODEL_DIR with PORT=0 and resolves once it logs "ready" (with its port). */
export async function startServer(
  modelDir: string,
  env: Record<string, string> = {},
): Promise<RunningServer> {
  const service = startService(process.execPath, [BUNDLE], { env: serverEnv(modelDir, env) });
  const match = await service.waitForOutput(/"port":(\d+)[^\n]*"msg":"ready"/, 60_000);
  const port = Number(match[1]);
  return { url: `http://127.0.0.1:${port}`, port, service, stop: () => service.stop(10_000) };
}

/** Runs the bundle expecting it to fail at startup; resolves with its exit code and output. */
export function runToExit(
  modelDir: string,
  env: Record<string, string> = {},
  bundle = BUNDLE,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle], {
      env: serverEnv(modelDir, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not exit within 30 s; output:\n${stdout}\n${stderr}`));
    }, 30_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface JsonReply {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** fetch + JSON decoding (text kept for non-JSON replies). */
export async function request(
  url: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<JsonReply> {
  const res = await fetch(url, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers },
    body: init.body,
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

export const postJson = (url: string, value: unknown, headers?: Record<string, string>): Promise<JsonReply> =>
  request(url, { body: JSON.stringify(value), headers });

/**
 * The value of a Prometheus sample (sum over series matching all the given label pairs); throws when no
 * series matches, unless `missing` says what an absent series counts as.
 */
export function metricValue(
  text: string,
  name: string,
  labels: Record<string, string> = {},
  missing?: number,
): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) {
      sum += Number(m[3]);
      found = true;
    }
  }
  if (!found && missing !== undefined) return missing;
  if (!found) throw new Error(`metric ${name} ${JSON.stringify(labels)} not found`);
  return sum;
}

export interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with the time (performance.now()) the connection closed. */
  closed: Promise<number>;
}

/** A raw TCP connection to the server (no HTTP client in between, so nothing completes our request). */
export async function openRaw(port: number): Promise<RawConnection> {
  const socket = connect({ host: '127.0.0.1', port });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  // A reset counts as closed too (the connection cap may reset a connection it refuses).
  socket.on('error', () => {});
  const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(performance.now())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed };
}

/** Fails the test when `p` has not settled within `ms` (the behaviour under test never came). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
    }),
  ]);
}
