/**
 * Where registry credentials may go, against Debian's docker-registry (htpasswd and bearer-token auth)
 * behind fault proxies: the Authorization header only to the registry's own origin, Basic credentials
 * only to an https token realm (or a loopback / insecure-registries one), no plain-http upload
 * Location elsewhere; and a tag that fails to move names the tags that already moved.
 *
 * Hosts like `uploads.example` cannot be reached from here (network is loopback only): the client's
 * fetch goes through `guarded`, which maps those names to loopback services (a test DNS) and records
 * every request made to them, so a request the client should never make is seen, not sent out.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import {
  buildImage,
  parseImageReference,
  pushImage,
  RegistryClient,
  type BuiltImage,
} from '../../src/image/index.js';
import { bufferBlobSource } from '../../src/image/registry.js';
import { silentLogger, type Logger } from '../../src/util/log.js';
import { startFaultProxy, startRegistry, type FaultProxy, type LocalRegistry } from '../env/index.js';
import { fakeModel, fakeRuntime, syntheticBase, tempDir } from './helpers.js';

interface Guarded {
  fetch: typeof fetch;
  /** Requests made to a mapped (non-loopback) name, with the Authorization header they carried. */
  seen: { url: string; authorization?: string }[];
}

/** fetch with a test DNS: `names` maps a host to a loopback `host:port`; requests there are recorded. */
function guarded(names: Record<string, string>): Guarded {
  const seen: Guarded['seen'] = [];
  return {
    seen,
    fetch: async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const to = names[url.host];
      if (to === undefined) return fetch(input, init);
      const authorization = new Headers(init?.headers).get('authorization') ?? undefined;
      seen.push({ url: url.href, ...(authorization !== undefined && { authorization }) });
      if (!to) throw new TypeError(`fetch failed (test network: ${url.host} is not reachable)`);
      const mapped = new URL(url.href);
      mapped.protocol = 'http:';
      mapped.host = to;
      return fetch(mapped, init);
    },
  };
}

let root: { dir: string; cleanup: () => Promise<void> };
let reg: LocalRegistry;
let treg: LocalRegistry;
/** In front of reg: the registry as the client knows it. */
let proxy: FaultProxy;
/** Also in front of reg, on another port: another origin. */
let foreign: FaultProxy;
/** In front of treg. */
let tproxy: FaultProxy;
const creds = () => ({ username: reg.username, password: reg.password });
const blob = bufferBlobSource(Buffer.from(`a blob ${Date.now()}`));

beforeAll(async () => {
  root = await tempDir('trust');
  [reg, treg] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'token' })]);
  [proxy, foreign, tproxy] = await Promise.all([
    startFaultProxy(reg.url),
    startFaultProxy(reg.url),
    startFaultProxy(treg.url),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([proxy?.stop(), foreign?.stop(), tproxy?.stop()]);
  await Promise.allSettled([reg?.stop(), treg?.stop()]);
  await root?.cleanup();
});

const client = (registry: string, extra: Partial<ConstructorParameters<typeof RegistryClient>[0]> = {}) =>
  new RegistryClient({
    registry,
    credentials: creds(),
    logger: silentLogger,
    retry: { attempts: 1 },
    ...extra,
  });

describe('upload Locations', () => {
  it("a Location on another origin is requested without the registry's Authorization", async () => {
    proxy.addFault({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      action: { status: 202, headers: { location: `${foreign.url}/v2/team/trust/blobs/uploads/elsewhere` } },
    });
    foreign.requests.length = 0;
    const err = await client(proxy.host)
      .pushBlob('team/trust', blob)
      .catch((e: unknown) => e);
    proxy.clearFaults();
    // The other origin got the PUT, with no credentials; the registry behind it refused it.
    expect(foreign.requests.map((r) => [r.method, r.authorization])).toEqual([['PUT', undefined]]);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toMatch(
      new RegExp(
        `PUT ${foreign.url}/v2/team/trust/blobs/uploads/elsewhere, where ${proxy.host} sent this request, answered 401: .*credentials were not sent there.*Fix: `,
      ),
    );
    // The registry's own requests did carry them.
    expect(proxy.requests.some((r) => r.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('a plain-http Location on a host that is neither loopback nor insecure is refused before any request', async () => {
    const net = guarded({ 'uploads.example': '' });
    proxy.addFault({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      action: { status: 202, headers: { location: 'http://uploads.example/v2/team/trust/blobs/uploads/x' } },
    });
    const err = await client(proxy.host, { fetch: net.fetch })
      .pushBlob('team/trust', blob)
      .catch((e: unknown) => e);
    proxy.clearFaults();
    expect(net.seen).toEqual([]);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(
      "The registry's upload Location is on plain http (http://uploads.example/v2/team/trust/blobs/uploads/x); it was refused",
    );
    expect((err as UserError).fix).toContain("add 'uploads.example' to insecure-registries");
  });

  it('a host in insecure-registries may be plain http, and still gets no Authorization from another origin', async () => {
    const net = guarded({ 'uploads.example': foreign.host });
    const upload = await fetch(`${reg.url}/v2/team/trust/blobs/uploads/`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`,
      },
    });
    const path = new URL(upload.headers.get('location') as string, reg.url);
    proxy.addFault({
      match: { method: 'POST', path: /\/blobs\/uploads\/$/ },
      action: { status: 202, headers: { location: `http://uploads.example${path.pathname}${path.search}` } },
    });
    const err = await client(proxy.host, { fetch: net.fetch, insecureRegistries: ['uploads.example'] })
      .pushBlob('team/trust', blob)
      .catch((e: unknown) => e);
    proxy.clearFaults();
    expect(net.seen).toHaveLength(1);
    expect(net.seen[0]!.authorization).toBeUndefined();
    expect(String(err)).toMatch(/answered 401: that origin is not the registry's/);
  });
});

describe('token realms', () => {
  const challenge = (realm: string) => ({
    match: { method: 'GET', path: /^\/v2\/$/ },
    action: {
      status: 401,
      headers: { 'www-authenticate': `Bearer realm="${realm}",service="${treg.tokenService!.service}"` },
    },
  });
  const tclient = (net: Guarded, insecureRegistries: string[] = []) =>
    new RegistryClient({
      registry: tproxy.host,
      credentials: { username: treg.username, password: treg.password },
      logger: silentLogger,
      retry: { attempts: 1 },
      fetch: net.fetch,
      insecureRegistries,
    });

  it('a realm on plain http elsewhere gets no credentials: refused with the fix', async () => {
    const net = guarded({ 'tokens.example': '' });
    tproxy.addFault(challenge('http://tokens.example/token'));
    const err = await tclient(net)
      .hasBlob('team/trust', blob.digest)
      .catch((e: unknown) => e);
    tproxy.clearFaults();
    expect(net.seen).toEqual([]);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toMatch(
      /token realm is on plain http \(http:\/\/tokens\.example\/token\); it was refused, and no credentials .* were sent there\..*Fix: .*insecure-registries/,
    );
  });

  it('a realm on another host gets the Basic credentials when its transport is allowed (here: insecure-registries)', async () => {
    const realm = new URL(treg.tokenService!.realm);
    const net = guarded({ 'tokens.example': realm.host });
    tproxy.addFault(challenge(`http://tokens.example${realm.pathname}`));
    expect(await tclient(net, ['tokens.example']).hasBlob('team/trust', blob.digest)).toBe(false);
    tproxy.clearFaults();
    expect(net.seen).toHaveLength(1);
    expect(net.seen[0]!.authorization).toBe(
      `Basic ${Buffer.from(`${treg.username}:${treg.password}`).toString('base64')}`,
    );
  });
});

describe('tags', () => {
  let img: BuiltImage;
  beforeAll(async () => {
    await syntheticBase(join(root.dir, 'base'), { platforms: ['linux/amd64'] });
    img = await buildImage({
      base: { image: `oci-layout:${join(root.dir, 'base')}`, platforms: ['linux/amd64'] },
      model: {
        dir: await fakeModel(join(root.dir, 'model'), 10_000),
        name: 'm',
        version: '2',
        sha256: 'f'.repeat(64),
        source: 'm:2',
      },
      server: {
        runtime: { 'linux/amd64': await fakeRuntime(join(root.dir, 'rt'), 'linux/amd64') },
        env: {},
        port: 8080,
      },
      metadata: { labels: {} },
      output: { workDir: join(root.dir, 'w') },
      logger: silentLogger,
    });
  }, 120_000);

  const tagDigest = async (tag: string): Promise<string | number> => {
    const res = await fetch(`${reg.url}/v2/team/tags/manifests/${tag}`, {
      method: 'HEAD',
      headers: {
        authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`,
        accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json',
      },
    });
    return res.ok ? (res.headers.get('docker-content-digest') ?? 'none') : res.status;
  };

  it('each tag is logged as it moves; when the second fails, the error names the one that moved', async () => {
    const lines: string[] = [];
    const logger: Logger = { ...silentLogger, info: (m) => lines.push(m) };
    proxy.addFault({
      match: { method: 'PUT', path: /\/manifests\/latest$/ },
      action: {
        status: 400,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ errors: [{ code: 'TAG_INVALID', message: 'tag is immutable' }] }),
      },
    });
    const err = await pushImage(
      img,
      parseImageReference(`${proxy.host}/team/tags`),
      ['2', 'latest', 'stable'],
      {
        credentials: creds(),
        logger,
        retry: { attempts: 1 },
      },
    ).catch((e: unknown) => e);
    proxy.clearFaults();
    const repo = `${proxy.host}/team/tags`;
    expect(lines).toContain(`Moved tag ${repo}:2 to ${img.digest}`);
    expect(lines.filter((l) => l.startsWith('Moved tag'))).toHaveLength(1);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).message).toBe(
      `Pushed ${repo}@${img.digest}, but moving tag 'latest' failed: PUT manifest team/tags:latest answered 400 (TAG_INVALID: tag is immutable). ` +
        `Tag(s) '2' already point at the new image; 'latest', 'stable' still point where they did.`,
    );
    expect((err as UserError).toString()).toMatch(/Fix: Re-run the job/);
    // What the registry holds agrees.
    expect([await tagDigest('2'), await tagDigest('latest'), await tagDigest('stable')]).toEqual([
      img.digest,
      404,
      404,
    ]);
  });
});
