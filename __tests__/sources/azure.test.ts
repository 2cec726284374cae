/**
 * Azure ML model sources end to end: the real @azure/identity credentials against the Entra fake, the
 * ARM fake over TLS, and real blob storage (Azurite, plain and behind the fault proxy; an https
 * Azurite with OAuth for identity-based datastores).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import {
  ContainerSASPermissions,
  StorageSharedKeyCredential,
  generateBlobSASQueryParameters,
  type ContainerClient,
} from '@azure/storage-blob';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { UserError } from '../../src/errors.js';
import { failure } from '../fixtures/errors.js';
import {
  fetchModel,
  parseModelReference,
  type AzureSettings,
  type FetchedModel,
} from '../../src/model-source/index.js';
import { startAzurite, startFaultProxy, type Azurite, type FaultProxy } from '../env/index.js';
import {
  GITHUB_OIDC_ISSUER,
  TOKEN_EXCHANGE_AUDIENCE,
  makeGithubOidcToken,
  registryId,
  startFakeAzure,
  workspaceId,
  type DataReferenceSpec,
  type FakeAzure,
  type Registry,
  type Workspace,
} from '../fakes/azure.js';
import { serverCertPath, serverKeyPath, serverTlsOptions } from '../fakes/tls.js';
import {
  captureLogger,
  createContainer,
  fastRetry,
  tempDir,
  upload,
  type CapturedLogger,
} from './helpers.js';

const SUBJECT = 'repo:octo/models:ref:refs/heads/main';
const OIDC_APP = 'oidc-app-0001';
const SECRET_APP = 'secret-app-0002';
const SECRET = `client-secret-${randomUUID()}`;
const READER_APP = 'reader-app-0003';
const READER_SECRET = `reader-secret-${randomUUID()}`;
const NO_STORAGE_APP = 'no-storage-app-0004';

const ws: Workspace = { subscriptionId: randomUUID(), resourceGroup: 'ml-rg', workspace: 'ml-ws' };
const reg: Registry = {
  subscriptionId: ws.subscriptionId,
  resourceGroup: 'reg-rg',
  registry: 'shared-registry',
};

let fake: FakeAzure;
let azurite: Azurite;
let proxy: FaultProxy;
let httpsAzurite: Azurite;
let blobstore: ContainerClient;
let sasToken: string;
let registrySasUri: string;
let httpsRegistrySas: string;
/** An https host no storage token may reach: records what it is sent. */
let trap: { url: string; port: number; authorizations: Array<string | undefined>; stop(): Promise<void> };
const oidcTokens: string[] = [];
const loggers: CapturedLogger[] = [];
const errors: string[] = [];
const cleanups: Array<() => Promise<void>> = [];

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const onnxBytes = (tag: string) => Buffer.concat([Buffer.from(`fake onnx ${tag}\n`), randomBytes(1000)]);
const files = {
  v1: onnxBytes('v1'),
  v2: onnxBytes('v2'),
  v3: onnxBytes('v3'),
  folderModel: onnxBytes('folder'),
  tokenizer: Buffer.from('{"model":{"type":"BPE"}}'),
  config: Buffer.from('{"id2label":{"0":"NEGATIVE","1":"POSITIVE"}}'),
  nested: Buffer.from('deep file'),
  mlflow: onnxBytes('mlflow'),
  mlflowExtra: onnxBytes('mlflow-extra'),
  registry: onnxBytes('registry'),
  identity: onnxBytes('identity'),
  registry5: onnxBytes('registry 5'),
  ranged: randomBytes(3 * 1024 * 1024 + 123),
};

const getIdToken = async (audience: string): Promise<string> => {
  const token = makeGithubOidcToken({ subject: SUBJECT, audience });
  oidcTokens.push(token);
  return token;
};

function settings(extra: Partial<AzureSettings> = {}): AzureSettings {
  return {
    clientId: OIDC_APP,
    tenantId: fake.tenantId,
    subscriptionId: ws.subscriptionId,
    resourceGroup: ws.resourceGroup,
    workspace: ws.workspace,
    authorityHost: fake.authorityHost,
    resourceManagerEndpoint: fake.resourceManagerEndpoint,
    blobEndpointTemplate: `${new URL(azurite.blobEndpoint).origin}/{account}`,
    ...extra,
  };
}

function credsJson(clientId = SECRET_APP, secret = SECRET, extra: Record<string, string> = {}): string {
  return JSON.stringify({
    clientId,
    clientSecret: secret,
    tenantId: fake.tenantId,
    subscriptionId: ws.subscriptionId,
    activeDirectoryEndpointUrl: fake.authorityHost,
    resourceManagerEndpointUrl: fake.resourceManagerEndpoint,
    ...extra,
  });
}

async function fetchWith(
  model: string,
  azure: AzureSettings,
  extra: { expectedSha256?: string; download?: Parameters<typeof fetchModel>[1]['download'] } = {},
): Promise<{ model: FetchedModel; logger: CapturedLogger }> {
  const dir = await tempDir('azure');
  cleanups.push(dir.remove);
  const logger = captureLogger();
  loggers.push(logger);
  try {
    const model_ = await fetchModel(parseModelReference(model), {
      azure,
      destDir: join(dir.path, 'model'),
      logger,
      getIdToken,
      retry: fastRetry,
      ...extra,
    });
    return { model: model_, logger };
  } catch (e) {
    errors.push(e instanceof UserError ? e.toString() : String(e));
    throw e;
  }
}

const fileOf = async (m: FetchedModel, rel: string) => readFile(join(m.dir, rel));

beforeAll(async () => {
  [fake, azurite, httpsAzurite] = await Promise.all([
    startFakeAzure({ pageSize: 2 }),
    startAzurite(),
    startAzurite({ tls: { certPath: serverCertPath, keyPath: serverKeyPath }, oauth: 'basic' }),
  ]);
  proxy = await startFaultProxy(new URL(azurite.blobEndpoint).origin);
  const trapServer = createHttpsServer(serverTlsOptions(), (req, res) => {
    trap.authorizations.push(req.headers.authorization);
    res.writeHead(403).end();
  });
  await new Promise<void>((r) => trapServer.listen(0, '127.0.0.1', r));
  const trapPort = (trapServer.address() as AddressInfo).port;
  trap = {
    url: `https://127.0.0.1:${trapPort}`,
    port: trapPort,
    authorizations: [],
    stop: () => new Promise<void>((r) => trapServer.close(() => r())),
  };

  fake.addPrincipal({
    clientId: OIDC_APP,
    federated: [{ issuer: GITHUB_OIDC_ISSUER, subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE }],
  });
  fake.addPrincipal({ clientId: SECRET_APP, secret: SECRET });
  fake.addPrincipal({ clientId: READER_APP, secret: READER_SECRET });
  fake.addPrincipal({
    clientId: NO_STORAGE_APP,
    storageDataReader: false,
    federated: [{ issuer: GITHUB_OIDC_ISSUER, subject: SUBJECT, audience: TOKEN_EXCHANGE_AUDIENCE }],
  });
  for (const app of [OIDC_APP, SECRET_APP, NO_STORAGE_APP]) {
    fake.grant(app, workspaceId(ws), 'AzureML Data Scientist');
    fake.grant(app, registryId(reg), 'AzureML Registry User');
  }
  fake.grant(READER_APP, workspaceId(ws), 'Reader');
  fake.grant(OIDC_APP, `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}`, 'Reader');

  const { accountName, accountKey, blobEndpoint } = azurite;
  blobstore = await createContainer(blobEndpoint, accountName, accountKey, 'azureml-blobstore');
  const sasContainer = await createContainer(blobEndpoint, accountName, accountKey, 'sas-container');
  const registryContainer = await createContainer(
    blobEndpoint,
    accountName,
    accountKey,
    'registry-container',
  );
  const key = new StorageSharedKeyCredential(accountName, accountKey);
  const sasFor = (containerName: string) =>
    generateBlobSASQueryParameters(
      {
        containerName,
        permissions: ContainerSASPermissions.parse('rl'),
        expiresOn: new Date(Date.now() + 3600_000),
      },
      key,
    ).toString();
  sasToken = sasFor('sas-container');
  registrySasUri = `${blobEndpoint}/registry-container?${sasFor('registry-container')}`;

  fake.addDatastore(ws, {
    name: 'workspaceblobstore',
    accountName,
    containerName: 'azureml-blobstore',
    credentialsType: 'AccountKey',
    secret: accountKey,
  });
  fake.addDatastore(ws, {
    name: 'sasstore',
    accountName,
    containerName: 'sas-container',
    credentialsType: 'Sas',
    secret: sasToken,
  });
  fake.addDatastore(ws, {
    name: 'identitystore',
    accountName,
    containerName: 'identity-container',
    datastoreType: 'AzureDataLakeGen2',
    credentialsType: 'None',
  });

  // sentiment: three single-file versions.
  for (const v of ['1', '2', '3'] as const) {
    const path = `LocalUpload/${sha(v).slice(0, 16)}/model.onnx`;
    await upload(blobstore, path, files[`v${v}`]);
    fake.addModelVersion(ws, {
      name: 'sentiment',
      version: v,
      modelUri: `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/${ws.resourceGroup}/workspaces/${ws.workspace}/datastores/workspaceblobstore/paths/${path}`,
    });
  }
  // A folder model with nested paths and ADLS directory markers, in the SAS datastore.
  await upload(sasContainer, 'models/folder-model/1/model.onnx', files.folderModel);
  await upload(sasContainer, 'models/folder-model/1/tokenizer', '', { hdi_isfolder: 'true' });
  await upload(sasContainer, 'models/folder-model/1/tokenizer/tokenizer.json', files.tokenizer);
  await upload(sasContainer, 'models/folder-model/1/config.json', files.config);
  await upload(sasContainer, 'models/folder-model/1/a/b/c.txt', files.nested);
  await upload(sasContainer, 'models/folder-model/10/other.onnx', onnxBytes('not me'));
  fake.addModelVersion(ws, {
    name: 'folder-model',
    version: '1',
    modelType: 'CustomModel',
    modelUri: 'azureml://datastores/sasstore/paths/models/folder-model/1/',
  });
  // An MLflow model with two .onnx files; MLmodel names the right one.
  await upload(
    blobstore,
    'mlflow/run1/model/MLmodel',
    'artifact_path: model\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.16.0\n  python_function:\n    loader_module: mlflow.onnx\n',
  );
  await upload(blobstore, 'mlflow/run1/model/model.onnx', files.mlflow);
  await upload(blobstore, 'mlflow/run1/model/extra/preprocess.onnx', files.mlflowExtra);
  fake.addModelVersion(ws, {
    name: 'mlflow-model',
    version: '1',
    modelType: 'mlflow_model',
    modelUri: 'azureml://datastores/workspaceblobstore/paths/mlflow/run1/model',
  });
  fake.addModelVersion(ws, {
    name: 'job-model',
    version: '1',
    modelUri: 'azureml://jobs/brave_cat_123/outputs/artifacts/paths/model/',
  });
  fake.addModelVersion(ws, {
    name: 'empty-model',
    version: '1',
    modelUri: 'azureml://datastores/workspaceblobstore/paths/azureml/brave_cat_123/model',
  });
  // Content-MD5 stored with the blob differs from its bytes.
  await upload(blobstore, 'md5/model.onnx', onnxBytes('md5'));
  await blobstore.getBlobClient('md5/model.onnx').setHTTPHeaders({
    blobContentMD5: createHash('md5').update('something else').digest(),
  });
  fake.addModelVersion(ws, {
    name: 'md5-model',
    version: '1',
    modelUri: 'azureml://datastores/workspaceblobstore/paths/md5/model.onnx',
  });
  // A multi-range blob for the proxy tests.
  await upload(blobstore, 'ranged/model.onnx', files.ranged);
  fake.addModelVersion(ws, {
    name: 'ranged-model',
    version: '1',
    modelUri: 'azureml://datastores/workspaceblobstore/paths/ranged/model.onnx',
  });
  // Identity-based datastore on the https, OAuth-checking Azurite.
  const identityContainer = await createContainer(
    httpsAzurite.blobEndpoint,
    httpsAzurite.accountName,
    httpsAzurite.accountKey,
    'identity-container',
  );
  await upload(identityContainer, 'models/identity-model/model.onnx', files.identity);
  fake.addModelVersion(ws, {
    name: 'identity-model',
    version: '1',
    modelUri: 'azureml://datastores/identitystore/paths/models/identity-model',
  });
  // Registry model.
  await upload(registryContainer, 'models/reg-model/4/model.onnx', files.registry);
  await upload(registryContainer, 'models/reg-model/4/config.json', files.config);
  const registryModelUri = `${blobEndpoint}/registry-container/models/reg-model/4`;
  fake.addRegistryModelVersion(reg, { name: 'reg-model', version: '4', modelUri: registryModelUri });
  fake.setDataReference(reg, 'reg-model', '4', { credentialType: 'SAS', sasUri: registrySasUri });
  // A registry model on the https, OAuth-checking Azurite: datareferences answers each shape in turn.
  const httpsRegistry = await createContainer(
    httpsAzurite.blobEndpoint,
    httpsAzurite.accountName,
    httpsAzurite.accountKey,
    'registry-container',
  );
  await upload(httpsRegistry, 'models/reg-model/5/model.onnx', files.registry5);
  await upload(httpsRegistry, 'models/reg-model/5/config.json', files.config);
  httpsRegistrySas = generateBlobSASQueryParameters(
    {
      containerName: 'registry-container',
      permissions: ContainerSASPermissions.parse('rl'),
      expiresOn: new Date(Date.now() + 3600_000),
    },
    new StorageSharedKeyCredential(httpsAzurite.accountName, httpsAzurite.accountKey),
  ).toString();
  fake.addRegistryModelVersion(reg, {
    name: 'reg-model',
    version: '5',
    modelUri: `${httpsAzurite.blobEndpoint}/registry-container/models/reg-model/5`,
  });
  // modelUris and datastores that name a host outside the storage endpoint template.
  fake.addModelVersion(ws, {
    name: 'elsewhere-model',
    version: '1',
    modelUri: `${trap.url}/${httpsAzurite.accountName}/identity-container/models/identity-model/model.onnx`,
  });
  fake.addDatastore(ws, {
    name: 'elsewherestore',
    accountName: httpsAzurite.accountName,
    containerName: 'identity-container',
    endpoint: `127.0.0.1:${trap.port}`,
    credentialsType: 'None',
  });
  fake.addModelVersion(ws, {
    name: 'elsewhere-datastore-model',
    version: '1',
    modelUri: 'azureml://datastores/elsewherestore/paths/models/identity-model',
  });
  fake.addRegistryModelVersion(reg, {
    name: 'elsewhere-registry-model',
    version: '1',
    modelUri: `${trap.url}/${httpsAzurite.accountName}/registry-container/models/reg-model/5`,
  });
  fake.setDataReference(reg, 'elsewhere-registry-model', '1', { credentialType: 'NoCredentials' });
  // A modelUri that carries its own SAS, on plain http Azurite: no identity involved.
  fake.addModelVersion(ws, {
    name: 'sas-uri-model',
    version: '1',
    modelUri: `${blobEndpoint}/sas-container/models/folder-model/1/model.onnx?${sasToken}`,
  });
}, 120_000);

afterAll(async () => {
  for (const c of cleanups) await c();
  await Promise.all([fake?.stop(), proxy?.stop(), azurite?.stop(), httpsAzurite?.stop(), trap?.stop()]);
});

describe('workspace models', () => {
  test('name:version over OIDC: the exact version, one file, its sha256, an AccountKey datastore', async () => {
    const { model, logger } = await fetchWith('sentiment:2', settings());
    expect(model).toMatchObject({
      name: 'sentiment',
      version: '2',
      modelFile: 'model.onnx',
      modelType: 'custom_model',
    });
    expect(model.source).toBe(
      `azureml://subscriptions/${ws.subscriptionId}/resourceGroups/ml-rg/workspaces/ml-ws/models/sentiment/versions/2`,
    );
    expect(await fileOf(model, 'model.onnx')).toEqual(files.v2);
    expect(model.sha256).toBe(sha(files.v2));
    expect(model.files).toEqual([{ path: 'model.onnx', size: files.v2.length, sha256: sha(files.v2) }]);
    // The account key from listSecrets and the OIDC token were masked.
    expect(logger.secrets).toContain(azurite.accountKey);
    expect(oidcTokens.some((t) => logger.secrets.has(t))).toBe(true);
    expect(logger.text()).toMatch(/Downloaded sentiment:2: 1 file, /);
    // MSAL, with the custom authority and instance discovery off: OpenID configuration, then the token
    // endpoint with the GitHub token as a jwt-bearer client assertion.
    expect(fake.requests.some((r) => /discovery\/instance/.test(r.path))).toBe(false);
    expect(
      fake.requests.some((r) => r.path === `/${fake.tenantId}/v2.0/.well-known/openid-configuration`),
    ).toBe(true);
    const form = new URLSearchParams(fake.requests.find((r) => /oauth2\/v2\.0\/token/.test(r.path))!.body);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    expect(oidcTokens).toContain(form.get('client_assertion'));
    expect(form.get('scope')).toBe(`${fake.resourceManagerEndpoint}/.default`);
    // The datastore secret was listed with a POST to listSecrets.
    expect(
      fake.requests.some(
        (r) => r.method === 'POST' && /\/datastores\/workspaceblobstore\/listSecrets\?/.test(r.path),
      ),
    ).toBe(true);
  });

  test('name@latest, azureml:name@latest and a bare name resolve to the newest version', async () => {
    for (const ref of ['sentiment@latest', 'azureml:sentiment@latest', 'sentiment']) {
      const { model } = await fetchWith(ref, settings());
      expect(model.version).toBe('3');
      expect(await fileOf(model, 'model.onnx')).toEqual(files.v3);
    }
    const list = fake.requests.filter((r) => /\/models\/sentiment\/versions\?/.test(r.path));
    const query = new URL(list[0]!.path, fake.url).searchParams;
    expect([query.get('$orderBy'), query.get('$top')]).toEqual(['createdtime desc', '1']);
  });

  test('latest falls back to the model container when the version listing fails', async () => {
    fake.addFault({
      match: { method: 'GET', path: /\/models\/sentiment\/versions\?.*orderBy/ },
      action: {
        status: 400,
        body: JSON.stringify({ error: { code: 'UserError', message: 'orderBy not supported' } }),
      },
    });
    const { model } = await fetchWith('azureml:sentiment@latest', settings());
    expect(model.version).toBe('3');
    expect(
      fake.requests.some((r) => /\/models\/sentiment\?api-version=/.test(r.path) && r.status === 200),
    ).toBe(true);
  });

  test('the azureml:// URI and ARM-id forms carry their own workspace', async () => {
    const bare = { ...settings(), subscriptionId: undefined, resourceGroup: undefined, workspace: undefined };
    for (const ref of [
      `azureml://subscriptions/${ws.subscriptionId}/resourcegroups/ml-rg/workspaces/ml-ws/models/sentiment/versions/1`,
      `azureml:/subscriptions/${ws.subscriptionId}/resourceGroups/ml-rg/providers/Microsoft.MachineLearningServices/workspaces/ml-ws/models/sentiment/versions/1`,
    ]) {
      const { model } = await fetchWith(ref, bare);
      expect(model.version).toBe('1');
      expect(await fileOf(model, 'model.onnx')).toEqual(files.v1);
    }
  });

  test('a folder model from a SAS datastore keeps nested paths and skips hdi_isfolder markers', async () => {
    const { model, logger } = await fetchWith('azureml:folder-model:1', settings());
    expect(model.files.map((f) => f.path)).toEqual([
      'a/b/c.txt',
      'config.json',
      'model.onnx',
      'tokenizer/tokenizer.json',
    ]);
    expect(await fileOf(model, 'tokenizer/tokenizer.json')).toEqual(files.tokenizer);
    expect(await fileOf(model, 'a/b/c.txt')).toEqual(files.nested);
    expect(model.modelFile).toBe('model.onnx');
    // ARM said CustomModel: reported in its canonical spelling.
    expect(model.modelType).toBe('custom_model');
    // Folder digest: sha256 of the sorted sha256sum manifest.
    const manifest = model.files.map((f) => `${f.sha256}  ${f.path}\n`).join('');
    expect(model.sha256).toBe(sha(manifest));
    expect(logger.secrets).toContain(sasToken);
  });

  test('an MLflow model: the .onnx its MLmodel names', async () => {
    const { model } = await fetchWith('mlflow-model:1', settings());
    expect(model.modelType).toBe('mlflow_model');
    expect(model.modelFile).toBe('model.onnx');
    expect(model.files.map((f) => f.path)).toContain('extra/preprocess.onnx');
  });

  test('the creds JSON logs in with a client secret (and fills the endpoints and subscription)', async () => {
    const { model, logger } = await fetchWith(
      'sentiment:1',
      settings({
        clientId: undefined,
        tenantId: undefined,
        subscriptionId: undefined,
        authorityHost: undefined,
        resourceManagerEndpoint: undefined,
        credentialsJson: credsJson(),
      }),
    );
    expect(model.version).toBe('1');
    expect(logger.secrets).toContain(SECRET);
    expect(logger.secrets).toContain(ws.subscriptionId);
    const tokenCall = fake.requests.filter((r) => /oauth2\/v2\.0\/token/.test(r.path)).pop()!;
    expect(tokenCall.body).toMatch(/client_secret=/);
  });

  test('an identity-based datastore reads with the Entra token (Azurite checks it)', async () => {
    const httpsTemplate = `${new URL(httpsAzurite.blobEndpoint).origin}/{account}`;
    const { model } = await fetchWith('identity-model:1', settings({ blobEndpointTemplate: httpsTemplate }));
    expect(await fileOf(model, 'model.onnx')).toEqual(files.identity);
    const storageToken = fake.requests.some((r) =>
      /scope=https%3A%2F%2Fstorage\.azure\.com%2F\.default/.test(r.body),
    );
    expect(storageToken).toBe(true);

    const e = await failure(
      fetchWith(
        'identity-model:1',
        settings({ clientId: NO_STORAGE_APP, blobEndpointTemplate: httpsTemplate }),
      ),
    );
    expect(e.message).toMatch(/storage 403/);
    expect(e.fix).toMatch(/Storage Blob Data Reader/);
  });
});

describe('registry models', () => {
  test('resolve through datareferences to a SAS for the registry container', async () => {
    const { model, logger } = await fetchWith(
      'azureml://registries/shared-registry/models/reg-model/versions/4',
      settings({ resourceGroup: 'reg-rg', workspace: undefined }),
    );
    expect(model).toMatchObject({
      name: 'reg-model',
      version: '4',
      source: 'azureml://registries/shared-registry/models/reg-model/versions/4',
    });
    expect(model.files.map((f) => f.path)).toEqual(['config.json', 'model.onnx']);
    expect(await fileOf(model, 'model.onnx')).toEqual(files.registry);
    expect(logger.secrets).toContain(registrySasUri.split('?')[1]);
    const dataRef = fake.requests.find((r) => /datareferences\/reg-model\/versions\/4/.test(r.path))!;
    expect(JSON.parse(dataRef.body)).toEqual({
      assetId: 'azureml://registries/shared-registry/models/reg-model/versions/4',
      blobUri: `${azurite.blobEndpoint}/registry-container/models/reg-model/4`,
    });
  });

  test.each<[string, () => DataReferenceSpec]>([
    [
      'a SAS for the container',
      () => ({
        credentialType: 'SAS',
        sasUri: `${httpsAzurite.blobEndpoint}/registry-container?${httpsRegistrySas}`,
      }),
    ],
    [
      "a SAS that carries the asset's path",
      () => ({
        credentialType: 'SAS',
        sasUri: `${httpsAzurite.blobEndpoint}/registry-container/models/reg-model/5?${httpsRegistrySas}`,
      }),
    ],
    ['NoCredentials (read with the storage token)', () => ({ credentialType: 'NoCredentials' })],
  ])('datareferences answering %s: container and path come from the blob URI', async (_, answer) => {
    fake.setDataReference(reg, 'reg-model', '5', answer());
    const before = fake.requests.length;
    const { model, logger } = await fetchWith(
      'azureml://registries/shared-registry/models/reg-model/versions/5',
      settings({
        resourceGroup: 'reg-rg',
        workspace: undefined,
        blobEndpointTemplate: `${new URL(httpsAzurite.blobEndpoint).origin}/{account}`,
      }),
    );
    expect(model.files.map((f) => f.path)).toEqual(['config.json', 'model.onnx']);
    expect(await fileOf(model, 'model.onnx')).toEqual(files.registry5);
    const storageTokens = fake.requests
      .slice(before)
      .filter((r) => /scope=https%3A%2F%2Fstorage\.azure\.com%2F\.default/.test(r.body));
    if (answer().credentialType === 'SAS') {
      expect(logger.secrets).toContain(httpsRegistrySas);
      expect(storageTokens).toHaveLength(0);
    } else {
      expect(storageTokens.length).toBeGreaterThan(0);
    }
  });

  test('a registry model needs the subscription and resource group', async () => {
    const e = await failure(
      fetchWith(
        'azureml://registries/shared-registry/models/reg-model/versions/4',
        settings({ subscriptionId: undefined, resourceGroup: undefined }),
      ),
    );
    expect(e.fix).toMatch(/azure-resource-group/);
  });
});

describe('the storage token goes only to the storage endpoint', () => {
  const httpsTemplate = () => `${new URL(httpsAzurite.blobEndpoint).origin}/{account}`;

  test.each([
    [
      'a modelUri on another host',
      'elsewhere-model:1',
      () => settings({ blobEndpointTemplate: httpsTemplate() }),
    ],
    [
      'a datastore whose endpoint suffix names another host',
      'elsewhere-datastore-model:1',
      () => settings({ blobEndpointTemplate: 'https://{endpoint-suffix}/{account}' }),
    ],
    [
      'a registry blob URI on another host (NoCredentials)',
      'azureml://registries/shared-registry/models/elsewhere-registry-model/versions/1',
      () => settings({ resourceGroup: 'reg-rg', blobEndpointTemplate: httpsTemplate() }),
    ],
  ])('%s: one error, and the host is never sent a token', async (_, model, azure) => {
    const e = await failure(fetchWith(model, azure()));
    expect(e.message).toMatch(
      new RegExp(
        `^Refusing to send the Azure storage token to ${trap.url.replace(/\./g, '\\.')}/${httpsAzurite.accountName}: `,
      ),
    );
    expect(e.fix).toMatch(/azure-blob-endpoint/);
    expect(trap.authorizations).toEqual([]);
  });

  test('a modelUri that carries a SAS is read with it, whatever the template', async () => {
    const { model, logger } = await fetchWith(
      'sas-uri-model:1',
      settings({ blobEndpointTemplate: httpsTemplate() }),
    );
    expect(await fileOf(model, 'model.onnx')).toEqual(files.folderModel);
    expect(logger.secrets).toContain(sasToken);
  });
});

describe('ARM and Entra failures become one line with the fix', () => {
  test('404: a version that does not exist lists the versions that do (across pages)', async () => {
    const e = await failure(fetchWith('sentiment:9', settings()));
    expect(e.message).toMatch(/Model sentiment has no version 9 in workspace ml-ws.*404/);
    expect(e.fix).toMatch(/Use one of the versions that exist: 3, 2, 1/);
  });

  test('404: a model name that does not exist lists the models', async () => {
    const e = await failure(fetchWith('sentimnet:1', settings()));
    expect(e.message).toMatch(/Model sentimnet was not found in workspace ml-ws/);
    expect(e.fix).toMatch(/sentiment/);
    expect(e.fix).toMatch(/folder-model/);
  });

  test('404: an unknown workspace names the inputs to check', async () => {
    const e = await failure(fetchWith('sentiment:1', settings({ workspace: 'nope' })));
    expect(e.message).toMatch(/ARM 404 ResourceNotFound/);
    expect(e.fix).toMatch(/azure-workspace/);
  });

  test('403: a principal without the role is told which role to get, where', async () => {
    const e = await failure(
      fetchWith(
        'sentiment:1',
        settings({
          clientId: undefined,
          tenantId: undefined,
          credentialsJson: credsJson(READER_APP, READER_SECRET),
        }),
      ),
    );
    expect(e.message).toMatch(/listSecrets|secrets of datastore workspaceblobstore/);
    expect(e.message).toMatch(/ARM 403 AuthorizationFailed/);
    expect(e.fix).toMatch(/'AzureML Data Scientist' role on \/subscriptions\/.*\/workspaces\/ml-ws/);
  });

  test('401: a token for another ARM audience is rejected with the endpoint fix', async () => {
    const other = fake.resourceManagerEndpoint.replace('127.0.0.1', 'localhost');
    const e = await failure(fetchWith('sentiment:1', settings({ resourceManagerEndpoint: other })));
    expect(e.message).toMatch(/ARM 401 InvalidAuthenticationTokenAudience/);
    expect(e.fix).toMatch(/azure-resource-manager-endpoint/);
  });

  test('AADSTS70021: no federated credential for the subject names the subject to add', async () => {
    const e = await failure(
      fetchModel(parseModelReference('sentiment:1'), {
        azure: settings(),
        destDir: join((await tempDir('aad')).path, 'm'),
        logger: captureLogger(),
        getIdToken: async (aud) =>
          makeGithubOidcToken({ subject: 'repo:octo/models:pull_request', audience: aud }),
        retry: fastRetry,
      }),
    );
    expect(e.message).toMatch(/AADSTS70021/);
    expect(e.fix).toMatch(/federated credential .*subject 'repo:octo\/models:pull_request'/);
  });

  test('AADSTS7000215: a wrong client secret', async () => {
    const e = await failure(
      fetchWith(
        'sentiment:1',
        settings({ clientId: undefined, credentialsJson: credsJson(SECRET_APP, 'wrong-secret-value') }),
      ),
    );
    expect(e.message).toMatch(/AADSTS7000215/);
    expect(e.fix).toMatch(/clientSecret/);
    expect(e.toString()).not.toContain('wrong-secret-value');
  });

  test('OIDC without id-token permission says which permission to add', async () => {
    const e = await failure(
      fetchModel(parseModelReference('sentiment:1'), {
        azure: settings(),
        destDir: join((await tempDir('perm')).path, 'm'),
        logger: captureLogger(),
        getIdToken: async () => {
          throw new Error('Unable to get ACTIONS_ID_TOKEN_REQUEST_URL env variable');
        },
        retry: fastRetry,
      }),
    );
    expect(e.fix).toMatch(/permissions: id-token: write/);
  });

  test('429 with Retry-After is retried after the wait; 500 and 503 are retried', async () => {
    const before = fake.requests.length;
    fake.addFault({
      match: { method: 'GET', path: /\/models\/sentiment\/versions\/2\?/ },
      times: 1,
      action: {
        status: 429,
        headers: { 'retry-after': '1' },
        body: JSON.stringify({ error: { code: 'TooManyRequests', message: 'Rate limit exceeded' } }),
      },
    });
    fake.addFault({
      match: { method: 'GET', path: /\/datastores\/workspaceblobstore\?/ },
      times: 1,
      action: {
        status: 500,
        body: JSON.stringify({ error: { code: 'InternalServerError', message: 'boom' } }),
      },
    });
    fake.addFault({
      match: { method: 'POST', path: /listSecrets/ },
      times: 2,
      action: {
        status: 503,
        body: JSON.stringify({ error: { code: 'ServiceUnavailable', message: 'busy' } }),
      },
    });
    const { model, logger } = await fetchWith('sentiment:2', settings());
    expect(await fileOf(model, 'model.onnx')).toEqual(files.v2);
    const seen = fake.requests.slice(before).map((r) => r.status);
    expect(seen.filter((s) => s === 429)).toHaveLength(1);
    expect(seen.filter((s) => s === 500)).toHaveLength(1);
    expect(seen.filter((s) => s === 503)).toHaveLength(2);
    // The 429 wait honoured Retry-After: 1 s.
    expect(logger.text()).toMatch(/returned 429 TooManyRequests; retrying in 1\.0s/);
  });

  test('a reset connection and a 503 on the token endpoint are retried', async () => {
    fake.addFault({
      match: { method: 'POST', path: /oauth2\/v2\.0\/token/ },
      times: 1,
      action: { reset: 'before' },
    });
    fake.addFault({
      match: { method: 'POST', path: /oauth2\/v2\.0\/token/ },
      times: 1,
      action: { status: 503, body: '{"error":"temporarily_unavailable"}' },
    });
    const { model } = await fetchWith(
      'sentiment:1',
      settings({ clientId: undefined, credentialsJson: credsJson() }),
    );
    expect(model.version).toBe('1');
  });

  test('retries stop at the attempt limit with the ARM error', async () => {
    fake.addFault({
      match: { method: 'GET', path: /\/models\/sentiment\/versions\/1\?/ },
      times: 10,
      action: {
        status: 503,
        body: JSON.stringify({ error: { code: 'ServiceUnavailable', message: 'down' } }),
      },
    });
    const e = await failure(fetchWith('sentiment:1', settings()));
    fake.clearFaults();
    expect(e.message).toMatch(/ARM 503 ServiceUnavailable/);
  });
  test('ARM connections that keep failing end in one line naming the endpoint', async () => {
    fake.addFault({
      match: { path: /\/models\/sentiment\/versions\/1\?/ },
      times: 10,
      action: { reset: 'before' },
    });
    const e = await failure(fetchWith('sentiment:1', settings()));
    fake.clearFaults();
    expect(e.message).toMatch(/^Cannot reach Azure Resource Manager at https:\/\/127\.0\.0\.1:\d+ \(GET /);
    expect(e.fix).toMatch(/azure-resource-manager-endpoint/);
  });
});

describe('storage and content failures', () => {
  test('a job-output modelUri is rejected with the fix', async () => {
    const e = await failure(fetchWith('job-model:1', settings()));
    expect(e.message).toMatch(/job output/);
    expect(e.fix).toMatch(/az ml model create/);
  });

  test('an empty listing is an error, not an empty model', async () => {
    const e = await failure(fetchWith('empty-model:1', settings()));
    expect(e.message).toMatch(/No files at .*azureml\/brave_cat_123\/model/);
  });

  test('a Content-MD5 mismatch fails the download', async () => {
    const e = await failure(fetchWith('md5-model:1', settings()));
    expect(e.message).toMatch(/does not match the Content-MD5/);
  });

  test('model-sha256 must match the model digest', async () => {
    const e = await failure(fetchWith('sentiment:2', settings(), { expectedSha256: sha(files.v1) }));
    expect(e.message).toMatch(
      new RegExp(`sha256 ${sha(files.v2)} does not match model-sha256 ${sha(files.v1)}`),
    );
    const { model } = await fetchWith('sentiment:2', settings(), {
      expectedSha256: `sha256:${sha(files.v2).toUpperCase()}`,
    });
    expect(model.sha256).toBe(sha(files.v2));
  });

  test('a connection reset mid-blob resumes; 503 and 429 on blob reads are retried (parallel ranges)', async () => {
    proxy.clearFaults();
    proxy.addFault({
      match: { method: 'GET', path: /ranged\/model\.onnx/ },
      times: 1,
      action: { reset: 'midBody', afterBytes: 300_000 },
    });
    proxy.addFault({
      match: { method: 'GET', path: /ranged\/model\.onnx/ },
      times: 1,
      action: { status: 503, body: '' },
    });
    proxy.addFault({
      match: { method: 'GET', path: /ranged\/model\.onnx/ },
      times: 1,
      action: { status: 429, headers: { 'retry-after': '1' }, body: '' },
    });
    const before = proxy.requests.length;
    const { model, logger } = await fetchWith(
      'ranged-model:1',
      settings({ blobEndpointTemplate: `${proxy.url}/{account}` }),
      {
        download: { rangeThreshold: 1024 * 1024, rangeSize: 1024 * 1024, rangeConcurrency: 2 },
      },
    );
    expect(model.sha256).toBe(sha(files.ranged));
    const gets = proxy.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && /ranged\/model\.onnx/.test(r.path));
    // 4 ranges + the resumed one + two refused.
    expect(gets.length).toBeGreaterThanOrEqual(7);
    expect(gets.map((r) => r.status)).toEqual(expect.arrayContaining([503, 429]));
    expect(logger.text()).toMatch(/connection lost mid-blob.*; resuming at byte \d+/);
  });

  test('a reset mid-blob without ranges resumes too', async () => {
    proxy.addFault({
      match: { method: 'GET', path: /sentiment|LocalUpload/ },
      times: 1,
      action: { reset: 'midBody', afterBytes: 200 },
    });
    const { model } = await fetchWith(
      'sentiment:3',
      settings({ blobEndpointTemplate: `${proxy.url}/{account}` }),
    );
    expect(model.sha256).toBe(sha(files.v3));
  });
});

test('no secret value appears in any captured log line or error', () => {
  const secrets = [
    SECRET,
    READER_SECRET,
    azurite.accountKey,
    sasToken,
    new URLSearchParams(sasToken).get('sig')!,
    registrySasUri.split('?')[1]!,
    ...fake.issuedTokens,
    ...oidcTokens,
  ];
  expect(fake.issuedTokens.length).toBeGreaterThan(5);
  const output = [...loggers.flatMap((l) => l.lines), ...errors].join('\n');
  expect(output.length).toBeGreaterThan(1000);
  for (const s of secrets) expect(output.includes(s)).toBe(false);
});
