/**
 * SAS query strings never reach the log: the bundled action run as the runner runs it, with a model URL
 * that carries a SAS (a TLS file server) and with ARM (the fake) answering modelUris that carry one but
 * cannot be parsed. Each run fails before any image is built, so no Docker engine is needed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeAzure, startFakeAzure, workspaceId } from '../fakes/azure.js';
import { serverTlsOptions } from '../fakes/tls.js';
import { type ActionRun, runBundledAction, RUN_WORKSPACE, visibleOutput } from './runner.js';

const ws = RUN_WORKSPACE;
const SP_CLIENT = 'aaaaaaaa-0000-0000-0000-000000000009';
const SP_SECRET = 'sp-secret-for-the-sas-test';
const SIG = 'Zk9vU2VjcmV0U2lnbmF0dXJl+/AB=';
const SAS = `sv=2024-11-04&se=2030-01-01T00%3A00%3A00Z&sr=b&sp=r&sig=${encodeURIComponent(SIG)}`;

let fake: FakeAzure;
let files: Server;
let filesUrl: string;
let tmp: string;

/** The SAS, its signature in every spelling, must not appear outside the runner's ::add-mask:: lines. */
function expectNoSas(run: ActionRun): void {
  const visible = visibleOutput(run);
  for (const s of [SAS, SIG, encodeURIComponent(SIG), 'sig=', 'sv=2024-11-04']) {
    expect([s, visible.includes(s)]).toEqual([s, false]);
  }
  expect(run.stdout).toContain(`::add-mask::${escapeData(SAS)}`);
}

/** How @actions/core writes a value into a workflow command (the runner decodes it). */
const escapeData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

const errorLines = (run: ActionRun) => run.stdout.split('\n').filter((l) => l.startsWith('::error'));

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pom-secrets-'));
  fake = await startFakeAzure();
  fake.addPrincipal({ clientId: SP_CLIENT, secret: SP_SECRET });
  fake.grant(SP_CLIENT, workspaceId(ws), 'AzureML Data Scientist');
  const body = Buffer.concat([Buffer.from('not really onnx\n'), randomBytes(256)]);
  files = createServer(serverTlsOptions(), (req, res) => {
    if (!req.url?.startsWith('/models/m.onnx?')) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-length': String(body.length) }).end(body);
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  filesUrl = `https://127.0.0.1:${(files.address() as AddressInfo).port}`;
  for (const [name, modelUri] of [
    ['wasbs-model', `wasbs://models@acct.blob.core.windows.net/m/model.onnx?${SAS}`],
    ['bad-port-model', `https://acct.blob.core.windows.net:99999/c/m.onnx?${SAS}`],
  ] as const) {
    fake.addModelVersion(ws, { name, version: '1', modelUri });
  }
}, 60_000);

afterAll(async () => {
  await new Promise((r) => files?.close(r));
  await fake?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('a SAS in the model input or a modelUri', () => {
  it('an https model URL: the query is masked before the first log line, which shows the URL without it', async () => {
    const run = await runBundledAction({
      tmp,
      inputs: {
        model: `${filesUrl}/models/m.onnx?${SAS}`,
        // Fails right after the download, before any image is built.
        'model-sha256': '0'.repeat(64),
        'smoke-test': 'none',
        push: 'false',
      },
    });
    expect(run.code).toBe(1);
    expect(run.stdout.indexOf(`::add-mask::${escapeData(SAS)}`)).toBeLessThan(
      run.stdout.indexOf('Resolving'),
    );
    expect(run.stdout).toContain(`Resolving and downloading ${filesUrl}/models/m.onnx\n`);
    expect(errorLines(run)).toHaveLength(1);
    expect(errorLines(run)[0]).toMatch(/does not match model-sha256/);
    expectNoSas(run);
  }, 120_000);

  it.each(['wasbs-model', 'bad-port-model'])(
    'a modelUri from ARM that does not parse (%s): one error showing it without its query',
    async (name) => {
      const run = await runBundledAction({
        tmp,
        inputs: {
          model: `${name}:1`,
          'azure-credentials': JSON.stringify({
            clientId: SP_CLIENT,
            clientSecret: SP_SECRET,
            tenantId: fake.tenantId,
          }),
          'azure-authority-host': fake.authorityHost,
          'azure-resource-manager-endpoint': fake.resourceManagerEndpoint,
          'azure-subscription-id': ws.subscriptionId,
          'azure-resource-group': ws.resourceGroup,
          'azure-workspace': ws.workspace,
          'smoke-test': 'none',
          push: 'false',
        },
      });
      expect(run.code).toBe(1);
      expect(errorLines(run)).toHaveLength(1);
      expect(errorLines(run)[0]).toMatch(
        /modelUri '(wasbs|https):\/\/[^?']*m(odel)?\.onnx' has a form this action cannot download/,
      );
      expectNoSas(run);
    },
    120_000,
  );
});
