/**
 * One copy of the weights: on a model whose weights dwarf the server's own memory, the server's resident
 * memory (read from /proc) stays near one ONNX Runtime session's, even with WORKERS=2, and it answers.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { benchTransformer } from '../fixtures/models.js';
import { postJson, REPO, startServer, type RunningServer } from './helpers.js';

let model: string;
const running: RunningServer[] = [];

beforeAll(async () => {
  // 10 layers x 512 hidden: about 160 MB of weights, ten times the server's own memory growth.
  model = await benchTransformer({ layers: 10, hidden: 512, heads: 8 });
}, 600_000);

afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

async function residentMb(pid: number | undefined): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
}

/**
 * One session of the model in a fresh Node process (the way a user would load it by hand): its resident
 * memory with onnxruntime loaded but no session, and after creating one session with every core.
 */
async function oneSession(onnxPath: string): Promise<{ withoutMb: number; withMb: number }> {
  const script = `
    const { readFileSync } = require('node:fs');
    const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
    const ort = require('onnxruntime-node');
    const withoutMb = rss();
    ort.InferenceSession.create(process.argv[1], { graphOptimizationLevel: 'all' }).then(() =>
      console.log(JSON.stringify({ withoutMb, withMb: rss() })));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script, onnxPath], { cwd: REPO });
  return JSON.parse(stdout) as { withoutMb: number; withMb: number };
}

describe('memory', () => {
  it('holds one copy of the weights with WORKERS=2: RSS near one session, far below two', async () => {
    const session = await oneSession(join(model, 'model.onnx'));
    const weightsMb = session.withMb - session.withoutMb;
    const server = await startServer(model, { WORKERS: '2', INTRA_OP_THREADS: '1' });
    running.push(server);
    const reply = await postJson(`${server.url}/predict`, ['one copy of the weights is enough']);
    expect(reply.status).toBe(200);
    const serverMb = await residentMb(server.service.child.pid);
    // A second session would add the whole weights again; HTTP, tokenizer and the inference thread add
    // a small fixed amount (about 60 MB), well under half of them.
    expect(weightsMb).toBeGreaterThan(100);
    expect(serverMb - session.withMb).toBeLessThan(weightsMb / 2);
  }, 180_000);
});
