/**
 * The bundled action (dist/index.js) run the way the runner runs it: INPUT_* environment, GITHUB_OUTPUT
 * and GITHUB_STEP_SUMMARY files, GITHUB_REPOSITORY/SHA/ACTOR, against the ARM + Entra fake (TLS),
 * Azurite, Debian's docker-registry and a private Docker engine.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ContainerClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import {
  type Azurite,
  type DockerEngine,
  type FaultProxy,
  type LocalRegistry,
  pushBaseImage,
  startAzurite,
  startDocker,
  startFaultProxy,
  startRegistry,
} from '../env/index.js';
import {
  type FakeAzure,
  makeGithubOidcToken,
  startFakeAzure,
  TOKEN_EXCHANGE_AUDIENCE,
} from '../fakes/azure.js';
import { type FakeHub, startFakeHub } from '../fakes/hub.js';
import { fixtureModels } from '../fixtures/models.js';
import { buildBaseImage } from '../../scripts/base-image.js';
import { type ActionRun, RUN_SHA, runBundledAction, RUN_WORKSPACE, visibleOutput } from './runner.js';

const ws = RUN_WORKSPACE;
const OIDC_CLIENT = 'aaaaaaaa-0000-0000-0000-000000000001';
const SP_CLIENT = 'aaaaaaaa-0000-0000-0000-000000000002';
const SP_SECRET = 'sp-secret-Zq8~value-that-must-never-print';
const SUBJECT = 'repo:Octo-Org/models:ref:refs/heads/main';
const SHA = RUN_SHA;
/** The workflow token the runner passes as `github-token`: it may go to ghcr.io only. */
const GITHUB_TOKEN = 'ghs_WorkflowTokenCanary0123456789abcdef';

let fake: FakeAzure;
let azurite: Azurite;
let registry: LocalRegistry;
let tokenRegistry: LocalRegistry;
let docker: DockerEngine;
let oidcServer: Server;
let oidcUrl: string;
let baseRef: string;
let tmp: string;
let registryPassword: string;
/** In front of `registry`: counts requests and records the Authorization each carried. */
let proxy: FaultProxy;

function runAction(
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {},
): Promise<ActionRun> {
  // What the runner fills in from action.yml's defaults (github-token), plus what most tests set.
  return runBundledAction({
    tmp,
    env: { DOCKER_HOST: docker.host, ...extraEnv },
    inputs: {
      'github-token': GITHUB_TOKEN,
      'azure-authority-host': fake.authorityHost,
      'azure-resource-manager-endpoint': fake.resourceManagerEndpoint,
      'azure-blob-endpoint': `${azurite.blobEndpoint.replace(/\/devstoreaccount1$/, '')}/{account}`,
      'azure-subscription-id': ws.subscriptionId,
      'azure-resource-group': ws.resourceGroup,
      'azure-workspace': ws.workspace,
      registry: registry.host,
      'registry-username': registry.username,
      'registry-password': registry.password,
      'base-image': baseRef,
      platforms: 'linux/amd64,linux/arm64',
      push: 'true',
      'smoke-test': 'auto',
      port: '8080',
      ...inputs,
    },
  });
}

/** Registry API: the digest a tag points at, or the status when it does not exist. */
async function tagDigest(reg: LocalRegistry, repo: string, tag: string): Promise<string | number> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`,
      accept: [
        'application/vnd.oci.image.index.v1+json',
        'application/vnd.oci.image.manifest.v1+json',
        'application/vnd.docker.distribution.manifest.list.v2+json',
        'application/vnd.docker.distribution.manifest.v2+json',
      ].join(', '),
    },
  });
  return res.ok ? (res.headers.get('docker-content-digest') ?? 'no digest header') : res.status;
}

/** Registry API GET (Basic credentials) of a manifest or blob, as bytes. */
async function registryGet(reg: LocalRegistry, repo: string, kind: 'manifests' | 'blobs', ref: string) {
  const res = await fetch(`${reg.url}/v2/${repo}/${kind}/${ref}`, {
    headers: {
      authorization: `Basic ${Buffer.from(`${reg.username}:${reg.password}`).toString('base64')}`,
      accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
  if (!res.ok) throw new Error(`GET ${repo}/${kind}/${ref}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** The entries of a tar, in memory. */
async function untar(
  buf: Buffer,
): Promise<Array<{ name: string; mode: number; type: string; data: Buffer }>> {
  const out: Array<{ name: string; mode: number; type: string; data: Buffer }> = [];
  const ex = tar.extract();
  const done = (async () => {
    for await (const e of ex) {
      const chunks: Buffer[] = [];
      for await (const c of e) chunks.push(c as Buffer);
      out.push({
        name: e.header.name,
        mode: e.header.mode ?? 0,
        type: e.header.type ?? '',
        data: Buffer.concat(chunks),
      });
    }
  })();
  ex.end(buf);
  await done;
  return out;
}

const isGzip = (b: Buffer): boolean => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * The secrets found in `bytes` (`where` prefixed), looking inside gzip and then into the tar it holds
 * (file names, headers and contents all are in the uncompressed stream).
 */
function secretsIn(bytes: Buffer, secrets: string[], where: string): string[] {
  const found = secrets.filter((s) => bytes.includes(s)).map((s) => `${where}: ${s.slice(0, 6)}...`);
  if (isGzip(bytes)) found.push(...secretsIn(gunzipSync(bytes), secrets, `${where} (uncompressed)`));
  return found;
}

/**
 * The model digest of a folder by its documented definition, with coreutils rather than our code:
 * `find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum`.
 */
async function shellModelDigest(dir: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'bash',
    ['-c', "find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum"],
    { cwd: dir },
  );
  return stdout.split(' ')[0] as string;
}

/** Blob uploads the registry received, counted at the proxy: upload sessions started, and data sent. */
function blobUploads(from: number): { started: number; data: number } {
  const seen = proxy.requests.slice(from);
  return {
    started: seen.filter((r) => r.method === 'POST' && /\/blobs\/uploads\/$/.test(r.path) && r.status === 202)
      .length,
    data: seen.filter(
      (r) => (r.method === 'PUT' || r.method === 'PATCH') && r.path.includes('/blobs/uploads/'),
    ).length,
  };
}

/**
 * Pulls `image` from the test registry into the Docker engine, runs it with host networking (plus
 * `runArgs`) and returns its answer to the original example's /predict body.
 */
async function predictInPulledImage(image: string, runArgs: string[] = []): Promise<unknown> {
  const login = await docker.docker(['login', '-u', registry.username, '--password-stdin', registry.host], {
    input: registry.password,
  });
  expect(login.code).toBe(0);
  expect((await docker.docker(['pull', image], { timeoutMs: 300_000 })).code).toBe(0);
  const port = 18000 + Math.floor(Math.random() * 2000);
  const started = await docker.docker([
    'run',
    '-d',
    '--network',
    'host',
    ...runArgs,
    '-e',
    `PORT=${port}`,
    image,
  ]);
  expect(started.code).toBe(0);
  try {
    for (let i = 0; i < 120; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '["MLOps is critical for robustness"]',
        });
        if (res.ok) return await res.json();
      } catch {
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    return undefined;
  } finally {
    await docker.docker(['rm', '-f', started.stdout.trim()]);
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pom-action-'));
  [fake, azurite, registry, tokenRegistry, docker] = await Promise.all([
    startFakeAzure(),
    startAzurite(),
    startRegistry({ auth: 'htpasswd' }),
    startRegistry({ auth: 'token' }),
    startDocker(),
  ]);
  registryPassword = registry.password;
  proxy = await startFaultProxy(registry.url);
  baseRef = (await pushBaseImage(registry, 'base/node', '24')).ref;

  // The example model registered in the workspace, stored in its default datastore (Azurite).
  const container = new ContainerClient(
    `${azurite.blobEndpoint}/azureml-blobstore`,
    new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey),
  );
  await container.createIfNotExists();
  for (const f of await readdir('examples/sentiment')) {
    await container.getBlockBlobClient(`models/sentiment/3/${f}`).uploadFile(join('examples/sentiment', f));
  }
  fake.addDatastore(ws, {
    name: 'workspaceblobstore',
    accountName: azurite.accountName,
    containerName: 'azureml-blobstore',
    credentialsType: 'AccountKey',
    secret: azurite.accountKey,
  });
  fake.addModelVersion(ws, {
    name: 'sentiment',
    version: '3',
    modelType: 'custom_model',
    modelUri: `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroup}/workspaces/${ws.workspace}/datastores/workspaceblobstore/paths/models/sentiment/3/`,
  });
  const scope = `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspace}`;
  fake.addPrincipal({
    clientId: OIDC_CLIENT,
    federated: [
      {
        issuer: 'https://token.actions.githubusercontent.com',
        subject: SUBJECT,
        audience: TOKEN_EXCHANGE_AUDIENCE,
      },
    ],
  });
  fake.addPrincipal({ clientId: SP_CLIENT, secret: SP_SECRET });
  fake.grant(OIDC_CLIENT, scope, 'AzureML Data Scientist');
  fake.grant(SP_CLIENT, scope, 'AzureML Data Scientist');

  // GitHub's OIDC token endpoint as core.getIDToken calls it (ACTIONS_ID_TOKEN_REQUEST_URL&audience=).
  oidcServer = createServer((req, res) => {
    const audience = new URL(req.url ?? '/', 'http://x').searchParams.get('audience') ?? undefined;
    if (req.headers.authorization !== 'Bearer runtime-request-token') {
      res.writeHead(401).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ value: makeGithubOidcToken({ subject: SUBJECT, audience }) }));
  });
  await new Promise<void>((r) => oidcServer.listen(0, '127.0.0.1', r));
  oidcUrl = `http://127.0.0.1:${(oidcServer.address() as AddressInfo).port}/token?api-version=2.0`;
}, 600_000);

afterAll(async () => {
  await new Promise((r) => oidcServer?.close(r));
  await proxy?.stop();
  await Promise.allSettled([
    fake?.stop(),
    azurite?.stop(),
    registry?.stop(),
    tokenRegistry?.stop(),
    docker?.stop(),
  ]);
  await rm(tmp, { recursive: true, force: true });
});

const oidcEnv = () => ({
  ACTIONS_ID_TOKEN_REQUEST_URL: oidcUrl,
  ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-request-token',
});

describe('the action', () => {
  it('packages a workspace model with OIDC, smoke-tests it, pushes it, and the image serves /predict', async () => {
    const image = `${registry.host}/octo-org/sentiment`;
    const run = await runAction(
      {
        model: 'sentiment:3',
        'azure-client-id': OIDC_CLIENT,
        'azure-tenant-id': fake.tenantId,
        image,
        tags: '{model-version}\nlatest\n{short-sha}',
        'smoke-test-expect': 'POSITIVE,POSITIVE,NEGATIVE',
      },
      oidcEnv(),
    );
    expect({ code: run.code, errors: run.stdout.split('\n').filter((l) => l.startsWith('::error')) }).toEqual(
      {
        code: 0,
        errors: [],
      },
    );

    // Outputs match what the registry holds.
    const o = run.outputs;
    expect(o.tags).toBe('3,latest,0123456');
    for (const tag of ['3', 'latest', '0123456'])
      expect(await tagDigest(registry, 'octo-org/sentiment', tag)).toBe(o.digest);
    expect(o.image).toBe(`${image}@${o.digest}`);
    expect(o['model-name']).toBe('sentiment');
    expect(o['model-version']).toBe('3');
    // The model digest as README defines it, computed here with coreutils over the files uploaded.
    expect(o['model-sha256']).toBe(await shellModelDigest('examples/sentiment'));
    const platforms = JSON.parse(o['platform-digests'] ?? '{}') as Record<string, string>;
    expect(Object.keys(platforms).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    for (const d of Object.values(platforms))
      expect(await tagDigest(registry, 'octo-org/sentiment', d)).toBe(d);
    const smoke = JSON.parse(o['smoke-test'] ?? '{}') as Record<string, { predictions: string[] }>;
    expect(smoke.process?.predictions).toEqual(['POSITIVE', 'POSITIVE', 'NEGATIVE']);
    expect(smoke.container?.predictions).toEqual(['POSITIVE', 'POSITIVE', 'NEGATIVE']);
    const meta = JSON.parse(o.metadata ?? '{}') as { image: { labels: Record<string, string> } };
    expect(meta.image.labels['org.opencontainers.image.source']).toBe('https://github.com/Octo-Org/models');
    expect(meta.image.labels['org.opencontainers.image.revision']).toBe(SHA);

    // The job summary is a markdown table naming the model, the image and each platform.
    expect(run.summary).toContain('## Package ONNX Model');
    expect(run.summary).toContain(`| Model sha256 | \`${o['model-sha256']}\` |`);
    for (const [p, d] of Object.entries(platforms)) expect(run.summary).toContain(`| ${p} | \`${d}\` |`);
    expect(run.summary).toMatch(/\| process \| `POST \/predict` .* \| POSITIVE, POSITIVE, NEGATIVE \|/);

    // The bundled action writes a valid CycloneDX BOM naming the Azure ML asset, attached to the image.
    const bomText = await readFile(o.sbom as string, 'utf8');
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(bomText)).toBeNull();
    const bom = JSON.parse(bomText) as {
      components: Array<{ type: string; externalReferences?: Array<{ url: string }> }>;
    };
    const source = (JSON.parse(o.metadata ?? '{}') as { model: { source: string } }).model.source;
    expect(source).toMatch(/^azureml:\/\//);
    expect(bom.components.find((c) => c.type === 'machine-learning-model')?.externalReferences).toEqual([
      expect.objectContaining({ url: source }),
    ]);
    expect(run.summary).toContain(`${image}@${o['sbom-digest']}`);

    // No credential, issued token or account key is visible.
    const visible = visibleOutput(run);
    for (const secret of [registryPassword, azurite.accountKey, ...fake.issuedTokens])
      expect(visible).not.toContain(secret);

    // The Docker engine pulls the pushed image by digest and the server inside answers /predict.
    expect(await predictInPulledImage(o.image as string)).toMatchObject({ positive: true });
  }, 900_000);

  it('a re-run of the same model gives the same digest and uploads nothing (counted at the registry)', async () => {
    // Image and base both reached through the counting proxy, so every request is seen.
    const inputs = {
      model: 'sentiment:3',
      'azure-client-id': OIDC_CLIENT,
      'azure-tenant-id': fake.tenantId,
      registry: proxy.host,
      image: `${proxy.host}/octo-org/rerun`,
      'base-image': baseRef.replace(registry.host, proxy.host),
      'smoke-test': 'none',
    };
    let mark = proxy.requests.length;
    const first = await runAction(inputs, oidcEnv());
    expect(first.code).toBe(0);
    const firstUploads = blobUploads(mark);
    mark = proxy.requests.length;
    const second = await runAction(inputs, oidcEnv());
    expect(second.code).toBe(0);
    expect(second.outputs.digest).toBe(first.outputs.digest);
    // The first run uploaded the model, runtime and config blobs; the second uploaded no blob at all.
    expect(firstUploads.started).toBeGreaterThan(0);
    expect(firstUploads.data).toBeGreaterThanOrEqual(firstUploads.started);
    expect(blobUploads(mark)).toEqual({ started: 0, data: 0 });
    // Its writes were the manifests only (the platform manifests, the index and the tags).
    const writes = proxy.requests
      .slice(mark)
      .filter((r) => r.method !== 'GET' && r.method !== 'HEAD')
      .map((r) => `${r.method} ${r.path.replace(/\/manifests\/.*$/, '/manifests/*')}`);
    expect([...new Set(writes)]).toEqual(['PUT /v2/octo-org/rerun/manifests/*']);
    expect(second.summary).toMatch(
      /\| Upload \| 0 blob\(s\), [\d.]+ (B|KB) uploaded; \d+ already present \|/,
    );
  }, 600_000);

  it('with the azure/login creds JSON, a failing smoke expectation pushes nothing', async () => {
    const creds = JSON.stringify({
      clientId: SP_CLIENT,
      clientSecret: SP_SECRET,
      tenantId: fake.tenantId,
      subscriptionId: ws.subscriptionId,
    });
    const run = await runAction({
      model: 'azureml:sentiment:3',
      'azure-credentials': creds,
      'azure-subscription-id': '',
      image: `${registry.host}/octo-org/not-pushed`,
      'smoke-test': 'process',
      'smoke-test-expect': 'NEGATIVE,POSITIVE,NEGATIVE',
    });
    expect(run.code).toBe(1);
    const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /predicted \[POSITIVE, POSITIVE, NEGATIVE\] but 'smoke-test-expect' is \[NEGATIVE, POSITIVE, NEGATIVE\]; nothing was pushed\..*Fix: /,
    );
    // The registry has no such repository: nothing was pushed.
    const tags = await fetch(`${registry.url}/v2/octo-org/not-pushed/tags/list`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`,
      },
    });
    expect(tags.status).toBe(404);
    // The secret is masked: registered with ::add-mask:: and never printed otherwise.
    expect(run.stdout).toContain(`::add-mask::${SP_SECRET}`);
    expect(visibleOutput(run)).not.toContain(SP_SECRET);
  }, 600_000);

  describe('registry credentials', () => {
    const dockerConfig = async (config: unknown): Promise<string> => {
      const dir = await mkdtemp(join(tmp, 'docker-config-'));
      await writeFile(join(dir, 'config.json'), JSON.stringify(config));
      return dir;
    };
    const inputs = (repo: string) => ({
      model: 'examples/sentiment',
      registry: proxy.host,
      image: `${proxy.host}/octo-org/${repo}`,
      'base-image': baseRef.replace(registry.host, proxy.host),
      'registry-username': '',
      'registry-password': '',
      'smoke-test': 'none',
    });
    /** Every Authorization header the registry received since `from`. */
    const authorizations = (from: number) =>
      proxy.requests
        .slice(from)
        .map((r) => r.authorization)
        .filter((a): a is string => a !== undefined);

    it("after docker/login-action, its login is used for the image's host; the workflow token is never sent there", async () => {
      const auth = Buffer.from(`${registry.username}:${registry.password}`).toString('base64');
      const config = await dockerConfig({ auths: { [proxy.host]: { auth } } });
      const mark = proxy.requests.length;
      const run = await runAction(inputs('after-login'), { DOCKER_CONFIG: config });
      expect({
        code: run.code,
        errors: run.stdout.split('\n').filter((l) => l.startsWith('::error')),
      }).toEqual({
        code: 0,
        errors: [],
      });
      expect(run.stdout).toContain(
        `Registry credentials for ${proxy.host}: Docker config ${join(config, 'config.json')} (auths), user '${registry.username}'`,
      );
      expect(await tagDigest(registry, 'octo-org/after-login', 'latest')).toBe(run.outputs.digest);
      const sent = authorizations(mark);
      expect(sent).toContain(`Basic ${auth}`);
      expect(
        sent.filter((a) => a.includes(Buffer.from(`octocat:${GITHUB_TOKEN}`).toString('base64'))),
      ).toEqual([]);
      // The login's secret was masked as soon as it was read, and is printed nowhere.
      expect(run.stdout).toContain(`::add-mask::${registry.password}`);
      expect(visibleOutput(run)).not.toContain(registry.password);
    }, 600_000);

    it('without inputs or a login, a host other than ghcr.io is tried anonymously, never with the workflow token', async () => {
      const config = await dockerConfig({ auths: { 'ghcr.io': { auth: 'Z2hjcjpvdGhlcg==' } } });
      const mark = proxy.requests.length;
      const run = await runAction(inputs('no-login'), { DOCKER_CONFIG: config });
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(`Registry credentials for ${proxy.host}: none (anonymous)`);
      const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error'));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(
        /requires credentials for base\/node, and none were given.*Fix: .*docker\/login-action/,
      );
      expect(proxy.requests.length).toBeGreaterThan(mark);
      expect(authorizations(mark)).toEqual([]);
    }, 600_000);
  });

  it('untrusted text cannot inject workflow commands: a model path with %0A:: and a real newline', async () => {
    const dir = join(
      tmp,
      'inject',
      'x%0A::warning::pct-injected\n::warning::nl-injected\r\n::error::cr-injected',
    );
    await mkdir(dir, { recursive: true });
    await cp('examples/sentiment', dir, { recursive: true });
    const run = await runAction({
      model: dir,
      push: 'false',
      'smoke-test': 'none',
      platforms: 'linux/amd64',
    });
    const injected = run.stdout.split('\n').filter((l) => /^::(warning|error)::(pct|nl|cr)-injected/.test(l));
    expect(injected).toEqual([]);
    // The path is still shown, escaped as @actions/core escapes command data.
    expect(run.stdout).toContain(
      'x%250A::warning::pct-injected%0A::warning::nl-injected%0D%0A::error::cr-injected',
    );
  }, 600_000);

  it('no secret of the run is in any byte of the image (every layer, config and manifest) or the archive', async () => {
    // A model in a datastore whose listSecrets gives a SAS token, read with the creds JSON's secret.
    const key = new StorageSharedKeyCredential(azurite.accountName, azurite.accountKey);
    const container = new ContainerClient(`${azurite.blobEndpoint}/sas-models`, key);
    await container.createIfNotExists();
    for (const f of await readdir('examples/sentiment')) {
      await container.getBlockBlobClient(`models/sentiment/5/${f}`).uploadFile(join('examples/sentiment', f));
    }
    const sasToken = generateBlobSASQueryParameters(
      {
        containerName: 'sas-models',
        permissions: ContainerSASPermissions.parse('rl'),
        expiresOn: new Date(Date.now() + 3600_000),
      },
      key,
    ).toString();
    fake.addDatastore(ws, {
      name: 'sasstore',
      accountName: azurite.accountName,
      containerName: 'sas-models',
      credentialsType: 'Sas',
      secret: sasToken,
    });
    fake.addModelVersion(ws, {
      name: 'sentiment',
      version: '5',
      modelType: 'custom_model',
      modelUri: `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroup}/workspaces/${ws.workspace}/datastores/sasstore/paths/models/sentiment/5/`,
    });
    const archive = join(tmp, 'scanned.tar');
    const repo = 'octo-org/scanned';
    const run = await runAction({
      model: 'sentiment:5',
      'azure-credentials': JSON.stringify({
        clientId: SP_CLIENT,
        clientSecret: SP_SECRET,
        tenantId: fake.tenantId,
        subscriptionId: ws.subscriptionId,
      }),
      image: `${registry.host}/${repo}`,
      archive,
      'smoke-test': 'container',
    });
    expect({ code: run.code, errors: run.stdout.split('\n').filter((l) => l.startsWith('::error')) }).toEqual(
      {
        code: 0,
        errors: [],
      },
    );
    // The container smoke test ran: the non-root server read the read-only model.
    const smoke = JSON.parse(run.outputs['smoke-test'] ?? '{}') as Record<string, { predictions: string[] }>;
    expect(smoke.container?.predictions).toHaveLength(3);

    const sig = new URLSearchParams(sasToken).get('sig') as string;
    const secrets = [
      registry.password,
      Buffer.from(`${registry.username}:${registry.password}`).toString('base64'),
      SP_SECRET,
      GITHUB_TOKEN,
      sasToken,
      sig,
      encodeURIComponent(sig),
      azurite.accountKey,
      ...fake.issuedTokens,
    ];
    expect(fake.issuedTokens.length).toBeGreaterThan(0);

    // Pulled back from the registry: the index, every manifest, config and layer.
    const found: string[] = [];
    const index = await registryGet(registry, repo, 'manifests', '5');
    found.push(...secretsIn(index, secrets, 'index'));
    const manifests = (JSON.parse(index.toString()) as { manifests: Array<{ digest: string }> }).manifests;
    expect(manifests).toHaveLength(2);
    let layers = 0;
    for (const d of manifests) {
      const mBytes = await registryGet(registry, repo, 'manifests', d.digest);
      found.push(...secretsIn(mBytes, secrets, `manifest ${d.digest}`));
      const m = JSON.parse(mBytes.toString()) as {
        config: { digest: string };
        layers: Array<{ digest: string }>;
      };
      const config = await registryGet(registry, repo, 'blobs', m.config.digest);
      found.push(...secretsIn(config, secrets, `config ${m.config.digest}`));
      expect((JSON.parse(config.toString()) as { config: { User: string } }).config.User).toBe('65532:65532');
      for (const l of m.layers) {
        const blob = await registryGet(registry, repo, 'blobs', l.digest);
        found.push(...secretsIn(blob, secrets, `layer ${l.digest}`));
        layers++;
      }
      // The model layer (last): read-only files and folders.
      const model = await untar(
        gunzipSync(await registryGet(registry, repo, 'blobs', m.layers.at(-1)!.digest)),
      );
      expect(model.filter((e) => e.name.startsWith('app/model/')).length).toBeGreaterThan(2);
      for (const e of model)
        expect([e.name, e.mode.toString(8)]).toEqual([e.name, e.type === 'directory' ? '555' : '444']);
    }
    expect(layers).toBeGreaterThanOrEqual(6);

    // The archive output: every entry, blobs decompressed.
    const entries = await untar(await readFile(archive));
    expect(entries.some((e) => e.name.startsWith('blobs/sha256/'))).toBe(true);
    for (const e of entries) found.push(...secretsIn(e.data, secrets, `archive ${e.name}`));

    expect(found).toEqual([]);
  }, 900_000);

  describe('bad inputs fail with one named error', () => {
    let hostOnlyBase: string;
    beforeAll(async () => {
      hostOnlyBase = join(tmp, 'amd64-only-base');
      await buildBaseImage({ outDir: hostOnlyBase, platforms: ['linux/amd64'] });
    }, 300_000);

    it.each<[string, () => Record<string, string>, RegExp]>([
      [
        'an unknown model form',
        () => ({ model: 'ftp://models.example/x.onnx' }),
        /model reference 'ftp:\/\/models\.example\/x\.onnx' is not accepted.*Fix: Use one of: name:version/,
      ],
      [
        'creds that are not JSON',
        () => ({ model: 'sentiment:3', 'azure-credentials': '{clientId: oops' }),
        /azure-credentials.*JSON.*Fix: /i,
      ],
      [
        'a platform the base lacks',
        () => ({
          model: 'examples/sentiment',
          'base-image': `oci-layout:${hostOnlyBase}`,
          platforms: 'linux/amd64,linux/arm64',
          'smoke-test': 'none',
        }),
        /linux\/arm64.*linux\/amd64.*Fix: /,
      ],
      [
        'a registry user without push permission',
        () => ({
          model: 'examples/sentiment',
          registry: tokenRegistry.host,
          image: `${tokenRegistry.host}/octo-org/denied`,
          'registry-username': tokenRegistry.readOnly.username,
          'registry-password': tokenRegistry.readOnly.password,
          'smoke-test': 'none',
          'base-image': `oci-layout:${hostOnlyBase}`,
          platforms: 'linux/amd64',
        }),
        /octo-org\/denied.*(push|permission)|(push|permission).*octo-org\/denied/i,
      ],
    ])(
      '%s',
      async (_, inputs, message) => {
        const run = await runAction(inputs());
        expect(run.code).toBe(1);
        const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error'));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(message);
        expect(errors[0]).toMatch(/Fix: /);
        expect(run.outputs).toEqual({});
      },
      300_000,
    );
  });
});

describe('the original example, as registered: one bare .onnx, the tokenizer from the Hub', () => {
  let hub: FakeHub;
  let commit: string;
  let modelFile: string;
  beforeAll(async () => {
    hub = await startFakeHub();
    const { roberta9 } = await fixtureModels();
    // The roberta-9 look-alike's tokenizer, served as the Hub serves FacebookAI/roberta-base.
    commit = hub.addRepo('FacebookAI/roberta-base', {
      files: {
        'tokenizer.json': { body: await readFile(join(roberta9, 'tokenizer.json')), lfs: true },
        'tokenizer_config.json': { body: await readFile(join(roberta9, 'tokenizer_config.json')) },
      },
    });
    // Registered as the original workflow registered it: the .onnx file alone, under its own name.
    const registered = await mkdtemp(join(tmp, 'registered-'));
    modelFile = join(registered, 'roberta-sequence-classification-9.onnx');
    await copyFile(join(roberta9, 'model.onnx'), modelFile);
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('packages it, pins the tokenizer commit, writes manifests, and the image answers {"positive": true}', async () => {
    const image = `${registry.host}/octo-org/roberta`;
    const manifestsDir = join(tmp, 'roberta-manifests');
    const run = await runAction(
      {
        model: modelFile,
        tokenizer: 'FacebookAI/roberta-base',
        'class-labels': 'NEGATIVE,POSITIVE',
        image,
        platforms: 'linux/amd64',
        'smoke-test-input': '["MLOps is critical for robustness"]',
        'smoke-test-expect': 'POSITIVE',
        manifests: manifestsDir,
        cpu: '500m',
        memory: '2Gi',
      },
      // The Hub's own clients' variable points the action at the stand-in.
      { HF_ENDPOINT: hub.endpoint },
    );
    expect({ code: run.code, errors: run.stdout.split('\n').filter((l) => l.startsWith('::error')) }).toEqual(
      { code: 0, errors: [] },
    );
    const o = run.outputs;
    expect(o['model-name']).toBe('roberta-sequence-classification-9');
    const smoke = JSON.parse(o['smoke-test'] ?? '{}') as Record<
      string,
      { path: string; predictions: string[] }
    >;
    expect(smoke.process).toMatchObject({ path: '/predict', predictions: ['POSITIVE'] });
    expect(smoke.container).toMatchObject({ path: '/predict', predictions: ['POSITIVE'] });

    // The image pins what it got: the Hub's commit in a label and in the metadata output.
    const meta = JSON.parse(o.metadata ?? '{}') as {
      image: { labels: Record<string, string> };
      tokenizer: { commit: string; files: string[]; source: string };
    };
    expect(meta.tokenizer).toMatchObject({
      commit,
      files: ['tokenizer.json', 'tokenizer_config.json'],
      source: `${hub.endpoint}/FacebookAI/roberta-base@main`,
    });
    expect(meta.image.labels['io.github.package-onnx-model.tokenizer.revision']).toBe(commit);
    expect(hub.requests.filter((r) => r.host === 'cdn')).toHaveLength(1);

    // Manifests for the pushed digest.
    expect(o.manifests).toBe(manifestsDir);
    const k8s = await readFile(join(manifestsDir, 'kubernetes.yaml'), 'utf8');
    expect(k8s).toContain(`image: ${o.image}`);
    expect(await readFile(join(manifestsDir, 'kserve.yaml'), 'utf8')).toContain(`image: ${o.image}`);

    // The pushed image, run as the manifests run it (non-root, read-only root, /tmp writable, no
    // capabilities), answers the original curl body with {"positive": true}.
    const answer = await predictInPulledImage(o.image as string, [
      '--read-only',
      '--tmpfs',
      '/tmp',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
    ]);
    expect(answer).toEqual({
      positive: true,
      predictions: [{ label: 'POSITIVE', score: expect.any(Number), positive: true }],
    });
  }, 900_000);

  it('a tokenizer repository the Hub does not know fails with its message and pushes nothing', async () => {
    const run = await runAction(
      {
        model: modelFile,
        tokenizer: 'FacebookAI/roberta-bsae',
        'huggingface-endpoint': hub.endpoint,
        image: `${registry.host}/octo-org/roberta-typo`,
        platforms: 'linux/amd64',
      },
      {},
    );
    expect(run.code).toBe(1);
    const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/'FacebookAI\/roberta-bsae' was not found .*Fix: .*huggingface-token/);
    expect(run.outputs).toEqual({});
  }, 300_000);
});

describe('a container whose server cannot start', () => {
  let noLibrt: string;
  beforeAll(async () => {
    noLibrt = join(tmp, 'base-without-librt');
    await buildBaseImage({ outDir: noLibrt, platforms: ['linux/amd64'], omitLibraries: ['librt.so.1'] });
  }, 300_000);

  it("prints the container's last log lines and the worker's own error", async () => {
    const run = await runAction({
      model: 'examples/sentiment',
      'base-image': `oci-layout:${noLibrt}`,
      platforms: 'linux/amd64',
      'smoke-test': 'container',
      push: 'false',
      image: `${registry.host}/octo-org/no-librt`,
    });
    expect(run.code).toBe(1);
    const errors = run.stdout.split('\n').filter((l) => l.startsWith('::error'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/Smoke test \(container\): .*librt\.so\.1: cannot open shared object file/);
    expect(errors[0]).toMatch(/Fix: The container's last log lines are printed above/);
    // The log lines themselves, before the error: the server's one startup line names the fix.
    const shown = run.stdout.slice(0, run.stdout.indexOf('::error'));
    expect(shown).toMatch(/The container's last \d+ log line\(s\):/);
    expect(shown).toMatch(
      /startup error: the inference worker .* librt\.so\.1: cannot open shared object file.*; fix: .*glibc base image/,
    );
  }, 600_000);
});
