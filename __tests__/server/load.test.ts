/**
 * Behaviour under concurrent load, on the benchmark encoder (slow enough that requests overlap):
 * concurrent requests share batches (seen in /metrics), a full queue answers 503 with Retry-After,
 * a request past REQUEST_TIMEOUT_MS answers 503, and SIGTERM under load answers every admitted request
 * before the process exits 0.
 */
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { benchTransformer } from '../fixtures/models.js';
import {
  metricValue,
  openRaw,
  postJson,
  request,
  startServer,
  type JsonReply,
  type RunningServer,
  within,
} from './helpers.js';

let model: string;
const running: RunningServer[] = [];

beforeAll(async () => {
  model = await benchTransformer();
}, 600_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function start(env: Record<string, string>): Promise<RunningServer> {
  const server = await startServer(model, { WORKERS: '1', INTRA_OP_THREADS: '1', ...env });
  running.push(server);
  return server;
}

/** A sentence of about `words` words, different per index so the texts vary in length. */
function sentence(i: number, words = 40): string {
  const parts = ['the', 'service', 'was', 'quick', 'and', 'the', 'food', 'arrived', 'warm', 'today'];
  return Array.from({ length: words + (i % 7) }, (_, k) => parts[(k + i) % parts.length]).join(' ');
}

async function metrics(server: RunningServer): Promise<string> {
  return (await fetch(`${server.url}/metrics`)).text();
}

describe('under load', () => {
  it('batches concurrent requests together (observed through /metrics)', async () => {
    const server = await start({ MAX_BATCH_SIZE: '16', MAX_BATCH_DELAY_MS: '20' });
    const before = await metrics(server);
    const batchesBefore = metricValue(before, 'inference_batch_size_count');
    const rowsBefore = metricValue(before, 'inference_batch_size_sum');
    const n = 24;
    const replies = await Promise.all(
      Array.from({ length: n }, (_, i) => postJson(`${server.url}/predict`, [sentence(i)])),
    );
    expect(replies.map((r) => r.status)).toEqual(new Array(n).fill(200));
    const after = await metrics(server);
    const batches = metricValue(after, 'inference_batch_size_count') - batchesBefore;
    const rows = metricValue(after, 'inference_batch_size_sum') - rowsBefore;
    expect(rows).toBe(n);
    // 24 one-text requests ran in fewer inference calls than requests: some batches held several.
    expect(batches).toBeLessThan(n);
    expect(metricValue(after, 'inference_batch_size_bucket', { le: '1' })).toBeLessThan(
      metricValue(after, 'inference_batch_size_count'),
    );
  });

  it('answers 503 with Retry-After when the queue is full, and keeps serving', async () => {
    const server = await start({ MAX_BATCH_SIZE: '1', MAX_QUEUE: '4', RETRY_AFTER_SECONDS: '2' });
    // One request that can never fit.
    const tooBig = await postJson(
      `${server.url}/predict`,
      [1, 2, 3, 4, 5].map((i) => sentence(i)),
    );
    expect(tooBig.status).toBe(503);
    expect(tooBig.headers.get('retry-after')).toBe('2');
    expect((tooBig.body as { error: string }).error).toMatch(/queue is full/);
    // Many concurrent requests: the queue (4 rows) overflows while the single worker is busy.
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => postJson(`${server.url}/predict`, [sentence(i, 120)])),
    );
    const full = replies.filter((r) => r.status === 503);
    const ok = replies.filter((r) => r.status === 200);
    expect(full.length + ok.length).toBe(30);
    expect(full.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThan(0);
    for (const r of full) {
      expect(r.headers.get('retry-after')).toBe('2');
      expect(r.body).toEqual({ error: expect.stringMatching(/queue is full/) });
    }
    const text = await metrics(server);
    expect(metricValue(text, 'inference_rejected_total', { reason: 'queue_full' })).toBe(full.length + 1);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
    expect((await postJson(`${server.url}/predict`, ['I love this'])).status).toBe(200);
  });

  it('answers 503 when a request is not answered within REQUEST_TIMEOUT_MS', async () => {
    const server = await start({ MAX_BATCH_SIZE: '1', REQUEST_TIMEOUT_MS: '5' });
    const replies = await Promise.all(
      Array.from({ length: 12 }, (_, i) => postJson(`${server.url}/predict`, [sentence(i, 150)])),
    );
    const late = replies.filter((r) => r.status === 503);
    expect(late.length).toBeGreaterThan(0);
    expect(late[0]?.body).toEqual({ error: expect.stringMatching(/no answer within 5 ms/) });
    expect(replies.every((r) => r.status === 200 || r.status === 503)).toBe(true);
    const text = await metrics(server);
    expect(metricValue(text, 'inference_rejected_total', { reason: 'timeout' })).toBe(late.length);
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s under load: not ready, every admitted request answered, exit 0',
    async (signal) => {
      // On the inference thread (INLINE_INFERENCE_MS=0: the encoder would run on the HTTP thread by
      // default): there /metrics answers while a batch runs, so "queued + one running + answered"
      // counts exactly the admitted requests. On the HTTP thread a dispatched row can be neither.
      const server = await start({
        MAX_BATCH_SIZE: '1',
        SHUTDOWN_TIMEOUT_MS: '60000',
        INLINE_INFERENCE_MS: '0',
      });
      // Enough queued work that some of it is still waiting after the signal, the log line
      // and the probe's answer, even on a machine busy with other test suites.
      const n = 60;
      let replied = 0;
      const pending: Promise<JsonReply | Error>[] = Array.from({ length: n }, (_, i) =>
        postJson(`${server.url}/predict`, [sentence(i, 120)])
          .catch((err: Error) => err)
          .finally(() => replied++),
      );
      // Wait until every request is admitted: queued, running on the single worker, or answered.
      let admitted = 0;
      let depth = 0;
      for (let i = 0; i < 2000 && admitted < n; i++) {
        const text = await metrics(server);
        depth = metricValue(text, 'inference_queue_depth');
        const answered = metricValue(text, 'http_requests_total', { route: '/predict' }, 0);
        admitted = depth + 1 + answered;
        if (admitted < n) await new Promise((r) => setTimeout(r, 5));
      }
      expect(admitted).toBe(n);
      expect(depth).toBeGreaterThan(0);
      // A readiness probe begun before the signal and finished after it: its connection is busy, so
      // it survives the listener closing, and it is answered while the queue drains.
      const probe = await openRaw(server.port);
      probe.socket.write('GET /v2/health/ready HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
      server.service.child.kill(signal);
      const exited = server.service.exited;
      await server.service.waitForOutput(/"msg":"shutting down/, 10_000);
      probe.socket.write('\r\n');
      await within(probe.closed, 10_000, 'the readiness probe got no answer during shutdown');
      expect(probe.received()).toMatch(/^HTTP\/1\.1 503 /);
      // ... while admitted predictions were still waiting for their answers.
      expect(replied).toBeLessThan(n);
      const replies = await Promise.all(pending);
      expect(replies.map((r) => (r instanceof Error ? r.message : r.status))).toEqual(new Array(n).fill(200));
      expect(await exited).toEqual({ code: 0, signal: null });
      expect(server.service.output()).toMatch(/"msg":"shutdown complete"/);
    },
  );
});
