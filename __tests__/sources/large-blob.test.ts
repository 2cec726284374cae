/**
 * A 200 MB model blob: uploaded to Azurite from a generated stream, fetched through the Azure fake
 * with the default parallel ranges, with memory growth bounded well below the blob's size (buffering
 * the blob would fail the bound), and progress lines on the way.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { fetchModel, parseModelReference } from '../../src/model-source/index.js';
import { startAzurite, type Azurite } from '../env/index.js';
import { startFakeAzure, workspaceId, type FakeAzure, type Workspace } from '../fakes/azure.js';
import { captureLogger, createContainer, fastRetry, tempDir } from './helpers.js';

const MB = 1024 * 1024;
const SIZE = 200 * MB;
const ws: Workspace = { subscriptionId: randomUUID(), resourceGroup: 'rg', workspace: 'big-ws' };
let fake: FakeAzure;
let azurite: Azurite;
let expectedSha = '';
let dir: { path: string; remove(): Promise<void> };

/** SIZE bytes, produced on demand 1 MiB at a time (each chunk distinct), hashed as they go. */
function generated(): { stream: Readable; digest: () => string } {
  const base = randomBytes(MB);
  const hash = createHash('sha256');
  let i = 0;
  const stream = new Readable({
    read() {
      if (i * MB >= SIZE) {
        this.push(null);
        return;
      }
      const chunk = Buffer.from(base);
      chunk.writeUInt32BE(i++, 0);
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, digest: () => hash.digest('hex') };
}

beforeAll(async () => {
  [fake, azurite] = await Promise.all([startFakeAzure(), startAzurite()]);
  dir = await tempDir('large');
  const container = await createContainer(
    azurite.blobEndpoint,
    azurite.accountName,
    azurite.accountKey,
    'big',
  );
  const { stream, digest } = generated();
  await container.getBlockBlobClient('models/big/model.onnx').uploadStream(stream, 4 * MB, 4);
  expectedSha = digest();
  fake.addPrincipal({ clientId: 'big-app', secret: 'big-secret' });
  fake.grant('big-app', workspaceId(ws), 'AzureML Data Scientist');
  fake.addDatastore(ws, {
    name: 'workspaceblobstore',
    accountName: azurite.accountName,
    containerName: 'big',
    credentialsType: 'AccountKey',
    secret: azurite.accountKey,
  });
  fake.addModelVersion(ws, {
    name: 'big',
    version: '1',
    modelUri: 'azureml://datastores/workspaceblobstore/paths/models/big/model.onnx',
  });
}, 300_000);

afterAll(async () => {
  await Promise.all([fake?.stop(), azurite?.stop(), dir?.remove()]);
});

test('a 200 MB blob streams to disk in parallel ranges with bounded memory', async () => {
  const logger = captureLogger();
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  try {
    const model = await fetchModel(parseModelReference('big:1'), {
      azure: {
        credentialsJson: JSON.stringify({
          clientId: 'big-app',
          clientSecret: 'big-secret',
          tenantId: fake.tenantId,
        }),
        subscriptionId: ws.subscriptionId,
        resourceGroup: ws.resourceGroup,
        workspace: ws.workspace,
        authorityHost: fake.authorityHost,
        resourceManagerEndpoint: fake.resourceManagerEndpoint,
        blobEndpointTemplate: `${new URL(azurite.blobEndpoint).origin}/{account}`,
      },
      destDir: join(dir.path, 'model'),
      logger,
      retry: fastRetry,
      download: { progressIntervalMs: 1 },
    });
    peak = Math.max(peak, process.memoryUsage().rss);
    expect(model.files).toEqual([{ path: 'model.onnx', size: SIZE, sha256: expectedSha }]);
    expect(model.sha256).toBe(expectedSha);
  } finally {
    clearInterval(sampler);
  }
  // Buffering the blob would add at least 200 MB; streaming stays far below.
  expect(peak - baseline).toBeLessThan(96 * MB);
  expect(
    logger.lines.some((l) => /Downloading big:1: [\d.]+ MB of 200\.0 MB \(\d+%\), [\d.]+ MB\/s, ETA/.test(l)),
  ).toBe(true);
  expect(logger.lines.some((l) => /Downloaded big:1: 1 file, 200\.0 MB in/.test(l))).toBe(true);
}, 300_000);
