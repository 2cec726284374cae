/**
 * Connection hardening of the shipped bundle, with raw sockets on loopback: a client that trickles its
 * body or its headers is answered 408 and cut off, an idle keep-alive connection is closed, and beyond
 * MAX_CONNECTIONS new connections are closed at once while the open ones (and later ones) are served;
 * a client still sending a body the server refused gets its 413.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseConfig } from '../../server-template/src/config.js';
import { fixtureModels } from '../fixtures/models.js';
import { openRaw, postJson, startServer, within, type RawConnection, type RunningServer } from './helpers.js';

let slow: RunningServer;
let idle: RunningServer;
let capped: RunningServer;
const CAP = 3;

beforeAll(async () => {
  const models = await fixtureModels();
  [slow, idle, capped] = await Promise.all([
    startServer(models.sentiment, {
      HTTP_REQUEST_TIMEOUT_MS: '1500',
      HTTP_HEADERS_TIMEOUT_MS: '1000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '1000',
    }),
    startServer(models.sentiment, {
      REQUEST_TIMEOUT_MS: '1000',
      HTTP_IDLE_TIMEOUT_MS: '1500',
      HTTP_REQUEST_TIMEOUT_MS: '8000',
      HTTP_HEADERS_TIMEOUT_MS: '8000',
    }),
    startServer(models.sentiment, { MAX_CONNECTIONS: String(CAP) }),
  ]);
});

afterAll(async () => {
  await Promise.all([slow?.stop(), idle?.stop(), capped?.stop()]);
});

/** Writes `text` one byte every `everyMs` until the socket closes; resolves with the bytes written. */
function trickle(socket: Socket, text: string, everyMs: number): Promise<number> {
  return new Promise((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      if (socket.destroyed || socket.writableEnded || i >= text.length) {
        clearInterval(timer);
        resolve(i);
        return;
      }
      socket.write(text[i++] as string);
    }, everyMs);
    socket.on('close', () => {
      clearInterval(timer);
      resolve(i);
    });
  });
}

const BODY = JSON.stringify(['I love this, and I will keep typing it very slowly for a long time']);

describe('slow clients are cut off', () => {
  it('a body trickled byte by byte gets 408 and its connection closed (HTTP_REQUEST_TIMEOUT_MS)', async () => {
    const conn = await openRaw(slow.port);
    const start = performance.now();
    conn.socket.write(
      `POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${BODY.length}\r\n\r\n`,
    );
    // 100 ms a byte: the body alone would take about 7 s; the server gives the request 1.5 s.
    const written = trickle(conn.socket, BODY, 100);
    // Meanwhile a normal client is served.
    const normal = await postJson(`${slow.url}/predict`, ['I love this']);
    expect(normal.status).toBe(200);
    const end = await within(conn.closed, 15_000, 'the server did not close the trickling connection');
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await written).toBeLessThan(BODY.length);
    expect(end - start).toBeGreaterThanOrEqual(1400);
  });

  it('headers trickled byte by byte get 408 and the connection closed (HTTP_HEADERS_TIMEOUT_MS)', async () => {
    const conn = await openRaw(slow.port);
    const start = performance.now();
    const headers = `POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
    const written = trickle(conn.socket, headers, 20);
    const end = await within(
      conn.closed,
      15_000,
      'the server did not close the connection with slow headers',
    );
    expect(conn.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(await written).toBeLessThan(headers.length);
    expect(end - start).toBeGreaterThanOrEqual(900);
  });

  it('an idle keep-alive connection is closed after HTTP_KEEP_ALIVE_TIMEOUT_MS, and says so', async () => {
    const conn = await openRaw(slow.port);
    conn.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await within(
      (async () => {
        while (!conn.received().endsWith('{"live":true}')) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      'no answer',
    );
    const answered = performance.now();
    const end = await within(conn.closed, 15_000, 'the server did not close the idle keep-alive connection');
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(conn.received()).toMatch(/\r\nKeep-Alive: timeout=1\r\n/i);
    expect(end - answered).toBeGreaterThanOrEqual(900);
  });
});

describe('HTTP_IDLE_TIMEOUT_MS', () => {
  it('closes a connection silent both ways, long before the headers timeout would', async () => {
    const conn = await openRaw(idle.port);
    const start = performance.now();
    conn.socket.write('GET /v2/health/live HTTP/1.1\r\n');
    const end = await within(conn.closed, 6000, 'the server did not close the silent connection');
    expect(end - start).toBeGreaterThanOrEqual(1400);
    expect(conn.received()).toBe('');
    // A prediction (answered within REQUEST_TIMEOUT_MS, below the idle timeout) is not cut.
    expect((await postJson(`${idle.url}/predict`, ['I love this'])).status).toBe(200);
  });
});

describe('MAX_CONNECTIONS', () => {
  it('closes connections beyond the cap without serving them; the open ones and later ones are served', async () => {
    const held = await Promise.all(Array.from({ length: CAP }, () => openRaw(capped.port)));
    // Each held connection has been accepted by the server: it answers a request on it.
    for (const conn of held) {
      conn.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    }
    await within(
      (async () => {
        while (!held.every((c) => /\r\n\r\n\{"live":true\}/.test(c.received()))) {
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      10_000,
      'the held connections were not served',
    );
    const extra = await openRaw(capped.port);
    extra.socket.write('GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await within(extra.closed, 10_000, 'the connection over the cap was not closed');
    expect(extra.received()).toBe('');
    // A held connection is still served while the cap is reached.
    const first = held[0] as RawConnection;
    const before = first.received().length;
    first.socket.write('GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await within(first.closed, 10_000, 'the held connection was not answered');
    expect(first.received().slice(before)).toMatch(/^HTTP\/1\.1 200 [\s\S]*\{"ready":true\}$/);
    // With a slot free again, a normal client is served.
    const reply = await postJson(`${capped.url}/predict`, ['I love this']);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ positive: true });
    for (const conn of held) conn.socket.destroy();
  });
});

describe('a body refused before it is read', () => {
  it('reaches a client still sending it: the 413, not a reset', async () => {
    // A client that reads only once it has sent everything (as one blocked in send() does): the server
    // answers 413 at the headers, and a plain close would reset the connection under the bytes still
    // arriving, destroying the answer before the client reads it (it saw EPIPE).
    const size = 3 * 2 ** 20;
    const socket = connect({ host: '127.0.0.1', port: idle.port });
    socket.pause();
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    let writeError: Error | undefined;
    socket.on('error', (err) => (writeError ??= err));
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < size && !socket.destroyed; sent += chunk.length) {
      if (!socket.write(chunk)) {
        await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
      }
    }
    socket.end();
    socket.resume();
    await within(closed, 10_000, 'the connection did not close once the client had sent everything');
    expect(writeError).toBeUndefined();
    expect(Buffer.concat(chunks).toString('utf8')).toMatch(
      /^HTTP\/1\.1 413 [\s\S]*"error":"the request body exceeds 1048576 bytes \(MAX_BODY_BYTES\)/,
    );
  });
});

describe('connection settings', () => {
  it('defaults bound every slow-client path', () => {
    expect(parseConfig({}, 2)).toMatchObject({
      httpRequestTimeoutMs: 30_000,
      httpHeadersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      idleTimeoutMs: 120_000,
      maxConnections: 1024,
    });
  });

  it('refuses settings that contradict each other, naming the fix', () => {
    expect(() =>
      parseConfig({ HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '6000' }, 2),
    ).toThrow(
      'HTTP_HEADERS_TIMEOUT_MS=6000 exceeds HTTP_REQUEST_TIMEOUT_MS=5000; fix: set HTTP_HEADERS_TIMEOUT_MS to at most HTTP_REQUEST_TIMEOUT_MS',
    );
    expect(() => parseConfig({ REQUEST_TIMEOUT_MS: '60000', HTTP_IDLE_TIMEOUT_MS: '30000' }, 2)).toThrow(
      /HTTP_IDLE_TIMEOUT_MS=30000 is not above REQUEST_TIMEOUT_MS=60000.*fix: set HTTP_IDLE_TIMEOUT_MS above REQUEST_TIMEOUT_MS/,
    );
    expect(() => parseConfig({ MAX_CONNECTIONS: '0' }, 2)).toThrow(/MAX_CONNECTIONS to an integer >= 1/);
  });
});
