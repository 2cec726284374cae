/**
 * Tests of the test environment itself, against the real components: Azurite, the fault proxy,
 * Debian's docker-registry (htpasswd and bearer-token auth), skopeo, and a Docker engine.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { createHash, randomBytes } from 'node:crypto';
import {
  startAzurite,
  startFaultProxy,
  startRegistry,
  type Azurite,
  type FaultProxy,
  type LocalRegistry,
} from './env/index.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const basic = (u: string, p: string): string => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

/** Parses `Bearer realm="...",service="...",scope="..."`. */
function bearerChallenge(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  const params: Record<string, string> = {};
  for (const m of (header ?? '').matchAll(/(\w+)="([^"]*)"/g)) params[m[1]!] = m[2]!;
  return params;
}

/** Asks the token service of `reg` for a token, like a registry client does after a 401. */
async function fetchToken(
  reg: LocalRegistry,
  scope: string,
  creds?: { username: string; password: string },
): Promise<Response> {
  const ts = reg.tokenService!;
  const url = `${ts.realm}?service=${encodeURIComponent(ts.service)}&scope=${encodeURIComponent(scope)}`;
  return fetch(url, creds ? { headers: { authorization: basic(creds.username, creds.password) } } : {});
}

/** Pushes one blob (monolithic POST + PUT) with the given Authorization; returns the final status. */
async function pushBlob(
  reg: LocalRegistry,
  repo: string,
  authorization: string,
  data: Buffer,
): Promise<number> {
  const start = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { authorization },
  });
  await start.arrayBuffer();
  if (start.status !== 202) return start.status;
  const location = new URL(start.headers.get('location')!, reg.url);
  location.searchParams.set('digest', `sha256:${sha256(data)}`);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { authorization, 'content-type': 'application/octet-stream' },
    body: data,
  });
  await put.arrayBuffer();
  return put.status;
}

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

describe('registry with htpasswd (Basic) auth', () => {
  let reg: LocalRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('listens on loopback and asks for Basic credentials', async () => {
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`http://${reg.host}`);
    const res = await fetch(`${reg.url}/v2/`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
  });

  it('accepts the pusher and rejects a wrong password with 401', async () => {
    const ok = await fetch(`${reg.url}/v2/`, {
      headers: { authorization: basic(reg.username, reg.password) },
    });
    expect(ok.status).toBe(200);
    const bad = await fetch(`${reg.url}/v2/`, { headers: { authorization: basic(reg.username, 'wrong') } });
    expect(bad.status).toBe(401);
    const data = randomBytes(1000);
    expect(await pushBlob(reg, 'env/blob', basic(reg.username, 'wrong'), data)).toBe(401);
    expect(await pushBlob(reg, 'env/blob', basic(reg.username, reg.password), data)).toBe(201);
    const head = await fetch(`${reg.url}/v2/env/blob/blobs/sha256:${sha256(data)}`, {
      method: 'HEAD',
      headers: { authorization: basic(reg.username, reg.password) },
    });
    expect(head.status).toBe(200);
  });
});

describe('registry with bearer-token auth (like GHCR)', () => {
  let reg: LocalRegistry;
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token' });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('answers 401 with a Bearer challenge naming realm, service and scope', async () => {
    const res = await fetch(`${reg.url}/v2/env/app/manifests/latest`);
    expect(res.status).toBe(401);
    const challenge = bearerChallenge(res.headers.get('www-authenticate'));
    expect(challenge).toEqual({
      realm: reg.tokenService!.realm,
      service: reg.tokenService!.service,
      scope: 'repository:env/app:pull',
    });
    expect(new URL(challenge.realm!).hostname).toBe('127.0.0.1');
  });

  it('issues tokens (token and access_token) that let the pusher push', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull,push', reg);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; access_token: string };
    expect(body.access_token).toBe(body.token);
    const [header] = body.token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toMatchObject({
      alg: 'RS256',
      x5c: [expect.any(String)],
    });
    expect(await pushBlob(reg, 'env/app', `Bearer ${body.token}`, randomBytes(2000))).toBe(201);
    expect(reg.tokenService!.issued().at(-1)).toEqual({
      username: reg.username,
      scopes: ['repository:env/app:pull,push'],
      granted: ['repository:env/app:pull,push'],
    });
  });

  it('rejects a wrong password with 401 at the token service', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull,push', {
      username: reg.username,
      password: 'wrong',
    });
    expect(res.status).toBe(401);
  });

  it('gives the read-only user pull but not push', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull,push', reg.readOnly);
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(reg.tokenService!.issued().at(-1)?.granted).toEqual(['repository:env/app:pull']);
    const pull = await fetch(`${reg.url}/v2/env/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect([200, 404]).toContain(pull.status); // allowed; the repository may have no tags yet
    const push = await fetch(`${reg.url}/v2/env/app/blobs/uploads/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(push.status).toBe(401);
    expect(bearerChallenge(push.headers.get('www-authenticate')).error).toBe('insufficient_scope');
  });

  it('gives anonymous requests a token without access', async () => {
    const res = await fetchToken(reg, 'repository:env/app:pull');
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    const pull = await fetch(`${reg.url}/v2/env/app/tags/list`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(pull.status).toBe(401);
  });
});
