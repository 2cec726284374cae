/**
 * Which credentials go to which registry host: explicit inputs, then the Docker config docker/login-action
 * writes (auths, and credHelpers/credsStore through a real `docker-credential-*` executable on PATH
 * speaking the helper protocol), then GITHUB_TOKEN for ghcr.io only, else anonymous.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { resolveRegistryCredentials, type CredentialSources } from '../../src/image/credentials.js';
import type { Logger } from '../../src/util/log.js';
import { tempDir } from './helpers.js';

const TOKEN = 'ghs_workflowTokenThatMustStayOnGhcr';

let root: { dir: string; cleanup: () => Promise<void> };
let bin: string;

beforeAll(async () => {
  root = await tempDir('credentials');
  bin = join(root.dir, 'bin');
  await mkdir(bin);
  // A credential helper as docker-credential-helpers ship them: `get`, the server URL on stdin, JSON out,
  // "credentials not found in native keychain" and exit 1 for unknown servers. It logs each call.
  const helper = (name: string, body: string) =>
    writeFile(join(bin, `docker-credential-${name}`), `#!/bin/sh\n${body}\n`).then(() =>
      chmod(join(bin, `docker-credential-${name}`), 0o755),
    );
  await helper(
    'pomtest',
    `server=$(cat)
echo "$1 $server" >> "${join(root.dir, 'helper-calls')}"
case "$server" in
  registry.corp.example) printf '{"ServerURL":"%s","Username":"corp-bot","Secret":"helper-secret-1"}' "$server" ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"hubuser","Secret":"helper-secret-hub"}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac`,
  );
  await helper('broken', 'echo "keychain locked" >&2; exit 3');
});

afterAll(async () => root?.cleanup());

const capture = (): Logger & { lines: string[]; secrets: string[] } => {
  const lines: string[] = [];
  const secrets: string[] = [];
  return {
    lines,
    secrets,
    info: (m) => lines.push(m),
    warning: (m) => lines.push(`warning: ${m}`),
    debug: () => undefined,
    secret: (s) => secrets.push(s),
  };
};

let configs = 0;
/** A DOCKER_CONFIG folder holding `config`, and the sources to resolve with. */
async function withConfig(
  config: unknown,
  extra: Partial<CredentialSources> = {},
): Promise<CredentialSources & { logger: ReturnType<typeof capture> }> {
  const dir = join(root.dir, `docker-config-${++configs}`);
  await mkdir(dir);
  if (config !== undefined) await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  return {
    env: { DOCKER_CONFIG: dir, PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: root.dir },
    github: { actor: 'octocat', token: TOKEN },
    ...extra,
    logger: capture(),
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const explicit = (username: string, password: string): CredentialSources['explicit'] => ({
  username,
  password,
  names: ['registry-username', 'registry-password'],
});

describe('GITHUB_TOKEN', () => {
  it('goes to ghcr.io only; every other host without a login is anonymous', async () => {
    const ghcr = await withConfig(undefined);
    expect(await resolveRegistryCredentials('ghcr.io', ghcr)).toEqual({
      credentials: { username: 'octocat', password: TOKEN },
      source: "the workflow's GITHUB_TOKEN (github-token input), user 'octocat'",
    });
    expect(ghcr.logger.secrets).toContain(TOKEN);
    for (const host of ['registry.corp.example', 'myacr.azurecr.io', 'docker.io', '127.0.0.1:5000']) {
      const other = await withConfig(undefined);
      const r = await resolveRegistryCredentials(host, other);
      expect(r).toEqual({ source: 'none (anonymous)' });
      expect(other.logger.lines).toEqual([`Registry credentials for ${host}: none (anonymous)`]);
    }
  });

  it('an explicit input wins everywhere, even over a Docker login for the same host', async () => {
    const s = await withConfig(
      { auths: { 'ghcr.io': { auth: b64('login-user:login-pass') } } },
      { explicit: explicit('me', 'pat-explicit') },
    );
    expect((await resolveRegistryCredentials('ghcr.io', s)).credentials).toEqual({
      username: 'me',
      password: 'pat-explicit',
    });
    expect(s.logger.lines).toEqual([
      "Registry credentials for ghcr.io: inputs registry-username/registry-password, user 'me'",
    ]);
    expect(s.logger.secrets).toContain('pat-explicit');
  });

  it('a password alone goes with the workflow actor; a user alone is an error that names the empty input', async () => {
    const s = await withConfig(undefined, { explicit: explicit('', 'pat-only') });
    expect((await resolveRegistryCredentials('registry.corp.example', s)).credentials).toEqual({
      username: 'octocat',
      password: 'pat-only',
    });
    const err = await resolveRegistryCredentials(
      'registry.corp.example',
      await withConfig(undefined, { explicit: explicit('me', '') }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toMatch(/'registry-username' is set but 'registry-password' is empty.*Fix: /);
  });
});

describe('the Docker config docker/login-action writes', () => {
  it('auths: base64 auth under a URL-shaped key, username/password, and Docker Hub by its v1 key', async () => {
    const s = await withConfig({
      auths: {
        'https://registry.corp.example/': { auth: b64('robot:pa:ss-with-colon') },
        'myacr.azurecr.io': { username: 'acr-user', password: 'acr-pass' },
        'https://index.docker.io/v1/': { auth: b64('hubuser:hub-pass') },
        'ghcr.io': { auth: b64('ghcr-login:ghcr-pat') },
      },
    });
    expect((await resolveRegistryCredentials('registry.corp.example', s)).credentials).toEqual({
      username: 'robot',
      password: 'pa:ss-with-colon',
    });
    expect((await resolveRegistryCredentials('myacr.azurecr.io', s)).credentials).toEqual({
      username: 'acr-user',
      password: 'acr-pass',
    });
    expect((await resolveRegistryCredentials('docker.io', s)).credentials).toEqual({
      username: 'hubuser',
      password: 'hub-pass',
    });
    // A docker/login-action login for ghcr.io is used instead of the workflow token.
    expect((await resolveRegistryCredentials('ghcr.io', s)).credentials).toEqual({
      username: 'ghcr-login',
      password: 'ghcr-pat',
    });
    const config = join(s.env.DOCKER_CONFIG as string, 'config.json');
    expect(s.logger.lines[0]).toBe(
      `Registry credentials for registry.corp.example: Docker config ${config} (auths), user 'robot'`,
    );
    // Everything read is masked, and no log line carries a secret.
    expect(s.logger.secrets).toEqual(
      expect.arrayContaining([b64('robot:pa:ss-with-colon'), 'pa:ss-with-colon', 'acr-pass', 'hub-pass']),
    );
    for (const line of s.logger.lines)
      for (const secret of ['pa:ss-with-colon', 'acr-pass', 'hub-pass', 'ghcr-pat', TOKEN])
        expect(line).not.toContain(secret);
  });

  it('~/.docker/config.json when DOCKER_CONFIG is not set', async () => {
    const home = join(root.dir, 'home');
    await mkdir(join(home, '.docker'), { recursive: true });
    await writeFile(
      join(home, '.docker', 'config.json'),
      JSON.stringify({ auths: { 'registry.corp.example': { auth: b64('home-user:home-pass') } } }),
    );
    const s = await withConfig(undefined);
    s.env = { HOME: home, PATH: s.env.PATH };
    expect((await resolveRegistryCredentials('registry.corp.example', s)).credentials).toEqual({
      username: 'home-user',
      password: 'home-pass',
    });
  });

  it('credHelpers run docker-credential-<name> get with the server on stdin; its secret is masked', async () => {
    const s = await withConfig({
      credHelpers: { 'registry.corp.example': 'pomtest' },
      auths: { 'registry.corp.example': { auth: b64('stale:stale') } },
    });
    const r = await resolveRegistryCredentials('registry.corp.example', s);
    expect(r.credentials).toEqual({ username: 'corp-bot', password: 'helper-secret-1' });
    expect(r.source).toMatch(
      /^docker-credential-pomtest \(credHelpers in .*config\.json\), user 'corp-bot'$/,
    );
    expect(s.logger.secrets).toContain('helper-secret-1');
    expect(s.logger.lines.join('\n')).not.toContain('helper-secret-1');
    expect(await readFile(join(root.dir, 'helper-calls'), 'utf8')).toContain('get registry.corp.example\n');
  });

  it('credsStore serves every host; Docker Hub is asked for by its v1 URL; "not found" falls through', async () => {
    const s = await withConfig({ credsStore: 'pomtest' });
    expect((await resolveRegistryCredentials('docker.io', s)).credentials).toEqual({
      username: 'hubuser',
      password: 'helper-secret-hub',
    });
    // The helper has nothing for ghcr.io: the workflow token is next; for another host, anonymous.
    expect((await resolveRegistryCredentials('ghcr.io', s)).credentials?.password).toBe(TOKEN);
    expect((await resolveRegistryCredentials('other.example', s)).credentials).toBeUndefined();
  });

  it('a helper that is not installed: the auths entry is used, and the log says so', async () => {
    const s = await withConfig({
      credsStore: 'desktop',
      auths: { 'registry.corp.example': { auth: b64('file-user:file-pass') } },
    });
    expect((await resolveRegistryCredentials('registry.corp.example', s)).credentials).toEqual({
      username: 'file-user',
      password: 'file-pass',
    });
    expect(s.logger.lines[0]).toMatch(/docker-credential-desktop \(credsStore\), which is not installed/);
  });

  it('a helper that fails is one named error with the fix', async () => {
    const s = await withConfig({ credHelpers: { 'registry.corp.example': 'broken' } });
    const err = await resolveRegistryCredentials('registry.corp.example', s).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toMatch(
      /credential helper docker-credential-broken \(credHelpers in .*\) failed for registry\.corp\.example: exit 3: keychain locked\..*Fix: /,
    );
  });

  it('a config that is not JSON is named', async () => {
    const s = await withConfig(undefined);
    await writeFile(join(s.env.DOCKER_CONFIG as string, 'config.json'), '{"auths": ');
    await expect(resolveRegistryCredentials('registry.corp.example', s)).rejects.toThrow(
      /Docker config .*config\.json is not valid JSON/,
    );
  });
});
