/**
 * Registry auth details that need a registry we cannot run here (GHCR's 403 wording) or exact header
 * parsing: challenges, the 403 fix for GHCR, token replies with `access_token`.
 */
import { describe, expect, it } from '@jest/globals';
import { UserError } from '../../src/errors.js';
import { parseChallenge } from '../../src/image/auth.js';
import { RegistryClient, bufferBlobSource } from '../../src/image/registry.js';
import { silentLogger } from '../../src/util/log.js';

describe('parseChallenge', () => {
  it('reads quoted and bare parameters', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:o/m:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:o/m:pull,push' },
    });
    expect(parseChallenge('Basic realm=Registry')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry' },
    });
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",error="insufficient_scope"',
      )?.params['error'],
    ).toBe('insufficient_scope');
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(null)).toBeUndefined();
  });
});

/** A scripted registry: GHCR-like Bearer flow; the upload POST is denied with GHCR's body. */
function ghcrLike(seen: { url: string; auth?: string }[]): typeof fetch {
  return async (input, init) => {
    const url = String(input);
    const auth = new Headers(init?.headers).get('authorization') ?? undefined;
    seen.push({ url, ...(auth && { auth }) });
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      new Response(JSON.stringify(body), {
        status,
        headers: { 'content-type': 'application/json', ...headers },
      });
    if (url.startsWith('https://ghcr.io/token')) return json(200, { access_token: 'tok-123' });
    if (!auth?.startsWith('Bearer tok-123')) {
      return json(401, {}, { 'www-authenticate': 'Bearer realm="https://ghcr.io/token",service="ghcr.io"' });
    }
    if (init?.method === 'HEAD') return new Response(null, { status: 404 });
    return json(403, { errors: [{ code: 'DENIED', message: 'permission_denied: write_package' }] });
  };
}

describe('GHCR permission errors', () => {
  it('403 on push names the workflow permission and the package access list; the token is masked', async () => {
    const seen: { url: string; auth?: string }[] = [];
    const secrets: string[] = [];
    const client = new RegistryClient({
      registry: 'ghcr.io',
      credentials: { username: 'octo', password: 'ghs_secret' },
      fetch: ghcrLike(seen),
      logger: { ...silentLogger, secret: (s) => secrets.push(s) },
      retry: { attempts: 1 },
    });
    const err = await client
      .pushBlob('octo/model', bufferBlobSource(Buffer.from('x')))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toContain(
      'ghcr.io denied push access to octo/model (DENIED: permission_denied: write_package)',
    );
    expect((err as UserError).fix).toContain('permissions: packages: write');
    expect((err as UserError).fix).toContain('Manage Actions access');
    expect(secrets).toEqual(expect.arrayContaining(['ghs_secret', 'tok-123']));
    const tokenReq = seen.find((s) => s.url.startsWith('https://ghcr.io/token'))!;
    expect(new URL(tokenReq.url).searchParams.getAll('scope')).toEqual(['repository:octo/model:pull,push']);
    expect(tokenReq.auth).toBe(`Basic ${Buffer.from('octo:ghs_secret').toString('base64')}`);
  });
});

describe('scheme discovery', () => {
  it('a registry that answers /v2/ anonymously but protects repositories gets Basic credentials on retry', async () => {
    const seen: { url: string; auth?: string }[] = [];
    const expected = `Basic ${Buffer.from('u:p').toString('base64')}`;
    const f: typeof fetch = async (input, init) => {
      const auth = new Headers(init?.headers).get('authorization') ?? undefined;
      seen.push({ url: String(input), ...(auth && { auth }) });
      if (String(input).endsWith('/v2/')) return new Response('{}', { status: 200 });
      if (auth !== expected)
        return new Response('{}', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
      return new Response(null, { status: 404 });
    };
    const client = new RegistryClient({
      registry: 'registry.example',
      credentials: { username: 'u', password: 'p' },
      fetch: f,
      logger: silentLogger,
    });
    expect(await client.hasBlob('a/b', `sha256:${'0'.repeat(64)}`)).toBe(false);
    expect(seen.map((s) => s.auth)).toEqual([undefined, undefined, expected]);
    expect(seen[1]!.url).toBe(`https://registry.example/v2/a/b/blobs/sha256:${'0'.repeat(64)}`);
  });

  it('wrong Basic credentials are the named error, not retried forever', async () => {
    let calls = 0;
    const f: typeof fetch = async () => {
      calls++;
      return new Response('{}', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
    };
    const client = new RegistryClient({
      registry: 'registry.example',
      credentials: { username: 'u', password: 'bad' },
      fetch: f,
      logger: silentLogger,
    });
    const err = await client.hasBlob('a/b', `sha256:${'0'.repeat(64)}`).catch((e: unknown) => e);
    expect(String(err)).toContain("Registry credentials rejected by registry.example for a/b (user 'u')");
    expect(calls).toBe(2); // the /v2/ ping, then one request with the credentials
  });
});
