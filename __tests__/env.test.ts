/**
 * Tests of the test environment itself, against the real components: Azurite, the fault proxy,
 * Debian's docker-registry (htpasswd and bearer-token auth), skopeo, and a Docker engine.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { createHash, randomBytes } from 'node:crypto';
import { startAzurite, startFaultProxy, type Azurite, type FaultProxy } from './env/index.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('Azurite', () => {
  let azurite: Azurite;
  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it('answers a container create, an upload and a download with @azure/storage-blob', async () => {
    expect(azurite.blobEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/devstoreaccount1$/);
    const service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    const container = service.getContainerClient('models');
    await container.create();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await container.getBlockBlobClient('v1/model.onnx').uploadData(data);
    const got = await container.getBlobClient('v1/model.onnx').downloadToBuffer();
    expect(sha256(got)).toBe(sha256(data));
    const names: string[] = [];
    for await (const b of container.listBlobsFlat()) names.push(b.name);
    expect(names).toEqual(['v1/model.onnx']);
  });

  it('accepts the shared key credential with the blob endpoint', async () => {
    const cred = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
    const service = new BlobServiceClient(azurite.blobEndpoint, cred);
    await service.getContainerClient('keyed').create();
    const names: string[] = [];
    for await (const c of service.listContainers()) names.push(c.name);
    expect(names).toContain('keyed');
  });
});

describe('fault proxy in front of Azurite', () => {
  let azurite: Azurite;
  let proxy: FaultProxy;
  let service: BlobServiceClient;
  const data = randomBytes(2 * 1024 * 1024);

  beforeAll(async () => {
    azurite = await startAzurite();
    proxy = await startFaultProxy(new URL(azurite.blobEndpoint).origin);
    const cred = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
    // No SDK retries: the test must see each injected fault.
    service = new BlobServiceClient(`${proxy.url}/${azurite.accountName}`, cred, {
      retryOptions: { maxTries: 1 },
    });
    await service.getContainerClient('faults').create({ access: 'blob' });
    await service.getContainerClient('faults').getBlockBlobClient('blob.bin').uploadData(data);
  });
  afterAll(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  it('forwards requests and records them in order', async () => {
    expect(proxy.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const before = proxy.requests.length;
    const got = await service.getContainerClient('faults').getBlobClient('blob.bin').downloadToBuffer();
    expect(sha256(got)).toBe(sha256(data));
    const seen = proxy.requests.slice(before);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    for (const r of seen) {
      expect(r.path).toMatch(/^\/devstoreaccount1\/faults\/blob\.bin/);
      expect(['HEAD', 'GET']).toContain(r.method);
      expect([200, 206]).toContain(r.status);
    }
    expect(seen.at(-1)?.method).toBe('GET');
  });

  it('injects a 503 for a matching request, once', async () => {
    proxy.addFault({
      match: { method: 'GET', path: /\/faults\/blob\.bin/ },
      action: { status: 503, headers: { 'retry-after': '1' }, body: 'busy' },
    });
    const blob = service.getContainerClient('faults').getBlobClient('blob.bin');
    await expect(blob.getProperties()).resolves.toBeDefined(); // HEAD does not match the rule
    await expect(blob.download()).rejects.toMatchObject({ statusCode: 503 });
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'GET', status: 503 });
    const again = await blob.downloadToBuffer();
    expect(sha256(again)).toBe(sha256(data));
  });

  it('injects a 503 on an upload (the request body is drained, the client sees the status)', async () => {
    proxy.addFault({ match: { method: 'PUT' }, action: { status: 503 } });
    const big = service.getContainerClient('faults').getBlockBlobClient('upload.bin');
    await expect(big.uploadData(randomBytes(512 * 1024))).rejects.toMatchObject({ statusCode: 503 });
  });

  it('resets the connection before any reply', async () => {
    proxy.addFault({ match: { path: /\/faults\/blob\.bin/ }, action: { reset: 'before' } });
    const blob = service.getContainerClient('faults').getBlobClient('blob.bin');
    await expect(blob.getProperties()).rejects.toThrow();
    expect(proxy.requests.at(-1)).toMatchObject({ method: 'HEAD', status: 0 });
  });

  it('cuts the response body after exactly N bytes', async () => {
    proxy.addFault({
      match: { method: 'GET', path: /\/faults\/blob\.bin/ },
      action: { reset: 'midBody', afterBytes: 100_000 },
    });
    // The container is public (access: 'blob'), so a plain fetch can read the body chunk by chunk.
    const res = await fetch(proxy.url + '/devstoreaccount1/faults/blob.bin');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe(String(data.length));
    const reader = res.body!.getReader();
    let received = 0;
    const err = await (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return undefined;
          received += value.length;
        }
      } catch (e) {
        return e;
      }
    })();
    // undici reports the cut as "TypeError: terminated" (from another realm: no instanceof).
    expect(String(err)).toMatch(/terminated|other side closed|ECONNRESET/i);
    expect(received).toBe(100_000);
    // The next request passes again.
    const ok = await service.getContainerClient('faults').getBlobClient('blob.bin').downloadToBuffer();
    expect(sha256(ok)).toBe(sha256(data));
  });

  it('streams a large upload and download through without altering bytes', async () => {
    const large = randomBytes(64 * 1024 * 1024);
    const blob = service.getContainerClient('faults').getBlockBlobClient('large.bin');
    await blob.uploadData(large, { blockSize: 16 * 1024 * 1024, concurrency: 2 });
    const got = await blob.downloadToBuffer();
    expect(sha256(got)).toBe(sha256(large));
  });
});
