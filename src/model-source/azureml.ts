/**
 * Resolves an Azure ML model reference (workspace or registry) through ARM to the blob container and
 * prefix holding its files, with the credentials to read them: datastore account key or SAS (via
 * listSecrets), the Entra identity (only towards trusted storage hosts), or a registry's data-reference
 * credential (SAS or identity). ARM failures become one line
 * with the fix (the versions that exist, the missing role, the input to check).
 */
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import { ArmRequestError, type ArmClient } from './arm.js';
import { parseModelUri } from './model-uri.js';
import {
  isLatest,
  registryModelUri,
  workspaceModelUri,
  type RegistryModelRef,
  type WorkspaceCoordinates,
  type WorkspaceModelRef,
} from './reference.js';
import { blobServiceUrl, identityBlobServiceUrls, sameServiceUrl, type ResolvedAzure } from './settings.js';
import { displayUrl, maskUrlSecrets } from '../util/url.js';

export type BlobAuth =
  | { kind: 'key'; accountName: string; accountKey: string }
  | { kind: 'sas'; sas: string }
  | { kind: 'identity' };

/** Where the model's files are and how to read them. */
export interface BlobAccess {
  /** Container URL without any query string (safe to print). */
  containerUrl: string;
  /** Blob name or folder prefix inside the container (no leading/trailing '/'). */
  prefix: string;
  auth: BlobAuth;
  /** For messages: e.g. "datastore workspaceblobstore (AccountKey)". */
  via: string;
}

export interface ResolvedModel {
  name: string;
  version: string;
  /** As ARM gives it (custom_model, mlflow_model, triton_model ...). */
  modelType?: string;
  /** Canonical azureml:// URI of the version. */
  source: string;
  access: BlobAccess;
}

export interface AzureMlContext {
  azure: ResolvedAzure;
  arm: ArmClient;
  logger: Logger;
}

const ML = 'Microsoft.MachineLearningServices';

interface ArmModelVersion {
  name: string;
  properties?: { modelUri?: string; modelType?: string };
}
interface ArmModelContainer {
  name: string;
  properties?: { latestVersion?: string | null };
}
interface ArmDatastore {
  properties?: {
    datastoreType?: string;
    accountName?: string;
    containerName?: string;
    filesystem?: string;
    endpoint?: string;
    protocol?: string;
    credentials?: { credentialsType?: string };
  };
}
interface ArmSecrets {
  secretsType?: string;
  key?: string;
  sasToken?: string;
}
interface ArmDataReference {
  blobReferenceForConsumption?: {
    blobUri?: string;
    credential?: { credentialType?: string; sasUri?: string };
  };
}

/** Compares model types ignoring case and `_` (custom_model = CustomModel). */
export function sameModelType(a: string | undefined, b: string): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/_/g, '');
  return a !== undefined && norm(a) === norm(b);
}

const KNOWN_MODEL_TYPES = ['custom_model', 'mlflow_model', 'triton_model'];

/** The snake_case spelling of a known model type (CustomModel -> custom_model); others as given. */
export function canonicalModelType(t: string | undefined): string | undefined {
  return t === undefined ? undefined : (KNOWN_MODEL_TYPES.find((k) => sameModelType(t, k)) ?? t);
}

/** Versions newest first: numerically when they are numbers. */
function sortVersions(versions: string[]): string[] {
  const num = (v: string) => (/^\d+$/.test(v) ? Number(v) : NaN);
  return [...versions].sort((a, b) => {
    const [x, y] = [num(a), num(b)];
    if (!Number.isNaN(x) && !Number.isNaN(y)) return y - x;
    return a < b ? 1 : a > b ? -1 : 0;
  });
}

function workspaceArmId(ws: WorkspaceCoordinates): string {
  return (
    `/subscriptions/${encodeURIComponent(ws.subscriptionId)}/resourceGroups/${encodeURIComponent(ws.resourceGroup)}` +
    `/providers/${ML}/workspaces/${encodeURIComponent(ws.workspace)}`
  );
}

function registryArmId(subscriptionId: string, resourceGroup: string, registry: string): string {
  return (
    `/subscriptions/${encodeURIComponent(subscriptionId)}/resourceGroups/${encodeURIComponent(resourceGroup)}` +
    `/providers/${ML}/registries/${encodeURIComponent(registry)}`
  );
}

interface ExplainContext {
  /** What was being done, e.g. "Reading model sentiment version 3 in workspace ws". */
  what: string;
  /** The role that grants it. */
  role: string;
  /** ARM scope to grant the role on. */
  scope: string;
}

/** Turns an ARM failure into one line: status, code, message, and the fix. Other errors pass through. */
export function explainArmError(e: unknown, azure: ResolvedAzure, ctx: ExplainContext): unknown {
  if (!(e instanceof ArmRequestError)) return e;
  const line = `${ctx.what} failed: ARM ${e.status} ${e.code}: ${e.armMessage}`.trim();
  const who =
    azure.login.kind === 'oidc'
      ? `the app ${azure.login.clientId} (azure-client-id)`
      : `the service principal ${azure.login.clientId} (clientId in azure-credentials)`;
  if (e.status === 401) {
    return new UserError(
      line,
      `Check that azure-resource-manager-endpoint (${azure.resourceManagerEndpoint}) belongs to the same cloud as ` +
        `azure-authority-host (${azure.authorityHost}) and that the tenant is the workspace's tenant.`,
      { cause: e },
    );
  }
  if (e.status === 403) {
    return new UserError(
      line,
      `Grant ${who} the '${ctx.role}' role on ${ctx.scope} (az role assignment create --role "${ctx.role}" ` +
        `--assignee ${azure.login.clientId} --scope ${ctx.scope}); ARM also answers 403 for a workspace or ` +
        'registry that does not exist, so check its name and resource group too.',
      { cause: e },
    );
  }
  if (e.status === 404 && /^(ResourceNotFound|ResourceGroupNotFound|SubscriptionNotFound)$/.test(e.code)) {
    return new UserError(
      line,
      'Check azure-subscription-id, azure-resource-group and azure-workspace (or the ids in the model reference).',
      { cause: e },
    );
  }
  return new UserError(
    line,
    'Check the model reference and Azure inputs; re-run if the service was failing.',
    {
      cause: e,
    },
  );
}

function isAssetNotFound(e: unknown): e is ArmRequestError {
  return (
    e instanceof ArmRequestError &&
    e.status === 404 &&
    !/^Resource(Group)?NotFound$|^SubscriptionNotFound$/.test(e.code)
  );
}

function workspaceOf(ref: WorkspaceModelRef, azure: ResolvedAzure): WorkspaceCoordinates {
  const ws = {
    subscriptionId: ref.subscriptionId ?? azure.subscriptionId,
    resourceGroup: ref.resourceGroup ?? azure.resourceGroup,
    workspace: ref.workspace ?? azure.workspace,
  };
  const missing = [
    ws.subscriptionId ? '' : 'azure-subscription-id (or subscriptionId in azure-credentials)',
    ws.resourceGroup ? '' : 'azure-resource-group',
    ws.workspace ? '' : 'azure-workspace',
  ].filter(Boolean);
  if (missing.length) {
    throw new UserError(
      `The model '${ref.name}' names no workspace and these inputs are missing: ${missing.join(', ')}.`,
      'Set them, or use the full form azureml://subscriptions/{sub}/resourceGroups/{rg}/workspaces/{ws}/models/{name}/versions/{version}.',
    );
  }
  return ws as WorkspaceCoordinates;
}

const shortList = (items: string[], max = 20): string =>
  items.length > max ? `${items.slice(0, max).join(', ')} ... (${items.length} in all)` : items.join(', ');

/** Resolves `latest`: newest by creation time, falling back to the container's latestVersion. */
async function latestVersion(
  ctx: AzureMlContext,
  parentId: string,
  name: string,
  where: string,
  explain: (e: unknown, what: string) => unknown,
): Promise<string> {
  const base = `${parentId}/models/${encodeURIComponent(name)}`;
  try {
    const page = await ctx.arm.get<{ value?: ArmModelVersion[] }>(`${base}/versions`, {
      $orderBy: 'createdtime desc',
      $top: '1',
    });
    const v = page.value?.[0]?.name;
    if (v) return v;
  } catch (e) {
    if (e instanceof ArmRequestError && (e.status === 401 || e.status === 403)) {
      throw explain(e, `Listing the versions of model ${name} in ${where}`);
    }
    ctx.logger.debug(
      `Listing versions by creation time failed (${String(e)}); using the model's latestVersion.`,
    );
  }
  let container: ArmModelContainer;
  try {
    container = await ctx.arm.get<ArmModelContainer>(base);
  } catch (e) {
    if (isAssetNotFound(e)) throw await modelNotFound(ctx, parentId, name, where, e);
    throw explain(e, `Reading model ${name} in ${where}`);
  }
  const latest = container.properties?.latestVersion;
  if (!latest) {
    throw new UserError(
      `Model ${name} in ${where} has no versions.`,
      'Register a version (az ml model create) or check the model name.',
    );
  }
  return latest;
}

async function modelNotFound(
  ctx: AzureMlContext,
  parentId: string,
  name: string,
  where: string,
  cause: ArmRequestError,
): Promise<UserError> {
  let names: string[] = [];
  try {
    names = (await ctx.arm.list<ArmModelContainer>(`${parentId}/models`, {}, 200)).map((c) => c.name);
  } catch (e) {
    ctx.logger.debug(`Could not list models: ${String(e)}`);
  }
  return new UserError(
    `Model ${name} was not found in ${where} (ARM ${cause.status} ${cause.code}).`,
    names.length
      ? `use one of the models that exist there: ${shortList(names)}.`
      : 'Check the model name and the workspace/registry inputs (no models could be listed there).',
    { cause },
  );
}

/** Gets one model version; on 404 lists the versions that exist (or the models, when the name is wrong). */
async function getModelVersion(
  ctx: AzureMlContext,
  parentId: string,
  name: string,
  version: string,
  where: string,
  explain: (e: unknown, what: string) => unknown,
): Promise<ArmModelVersion> {
  const base = `${parentId}/models/${encodeURIComponent(name)}`;
  try {
    return await ctx.arm.get<ArmModelVersion>(`${base}/versions/${encodeURIComponent(version)}`);
  } catch (e) {
    if (!isAssetNotFound(e)) throw explain(e, `Reading model ${name} version ${version} in ${where}`);
    let versions: string[] = [];
    try {
      versions = (await ctx.arm.list<ArmModelVersion>(`${base}/versions`, {}, 500)).map((v) => v.name);
    } catch (listError) {
      if (!isAssetNotFound(listError))
        throw explain(listError, `Listing the versions of model ${name} in ${where}`);
    }
    if (versions.length === 0) throw await modelNotFound(ctx, parentId, name, where, e);
    throw new UserError(
      `Model ${name} has no version ${version} in ${where} (ARM ${e.status} ${e.code}).`,
      `Use one of the versions that exist: ${shortList(sortVersions(versions))} (or ${name}@latest).`,
      { cause: e },
    );
  }
}

function modelUriOf(ctx: AzureMlContext, v: ArmModelVersion, name: string, version: string): string {
  const uri = v.properties?.modelUri;
  if (!uri) {
    throw new UserError(
      `Model ${name} version ${version} has no modelUri.`,
      'Re-register the model version with a path to its files.',
    );
  }
  maskUrlSecrets(uri, ctx.logger);
  return uri;
}

/**
 * Identity-based access to a blob service: allowed only where the storage token belongs (the
 * azure-blob-endpoint template or the cloud's storage suffix); anything else is one error, and no
 * token is requested or sent.
 */
function identityAuth(ctx: AzureMlContext, serviceUrl: string, accountName: string, what: string): BlobAuth {
  const trusted = identityBlobServiceUrls(ctx.azure, accountName);
  if (trusted.some((t) => sameServiceUrl(t, serviceUrl))) return { kind: 'identity' };
  const expected = trusted.length
    ? trusted.join(' or ')
    : `none known: azure-resource-manager-endpoint ${ctx.azure.resourceManagerEndpoint} is not a cloud this action knows`;
  throw new UserError(
    `Refusing to send the Azure storage token to ${displayUrl(serviceUrl)}: ${what} names a host that is ` +
      `neither the azure-blob-endpoint template nor the cloud's blob storage (expected ${expected}).`,
    'If that storage is genuine, set azure-blob-endpoint to its template (e.g. https://{account}.blob.core.usgovcloudapi.net); ' +
      "otherwise correct the model's modelUri or the datastore's endpoint (az ml datastore show), or give the URI a SAS.",
  );
}

/** Reads a workspace datastore and the credentials it uses. */
async function datastoreAccess(
  ctx: AzureMlContext,
  ws: WorkspaceCoordinates,
  datastore: string,
  prefix: string,
): Promise<BlobAccess> {
  const wsId = workspaceArmId(ws);
  const path = `${wsId}/datastores/${encodeURIComponent(datastore)}`;
  const explain = (e: unknown, what: string, role = 'AzureML Data Scientist') =>
    explainArmError(e, ctx.azure, { what, role, scope: wsId });
  let ds: ArmDatastore;
  try {
    ds = await ctx.arm.get<ArmDatastore>(path);
  } catch (e) {
    throw explain(e, `Reading datastore ${datastore} of workspace ${ws.workspace}`);
  }
  const p = ds.properties ?? {};
  const type = p.datastoreType ?? 'AzureBlob';
  const container = type === 'AzureDataLakeGen2' ? p.filesystem : p.containerName;
  if ((type !== 'AzureBlob' && type !== 'AzureDataLakeGen2') || !p.accountName || !container) {
    throw new UserError(
      `Datastore ${datastore} is of type ${type}, which this action cannot read (only Azure Blob and ADLS Gen2).`,
      'Register the model from a blob datastore (e.g. workspaceblobstore).',
    );
  }
  const service = blobServiceUrl(ctx.azure.blobEndpointTemplate, p.accountName, p.endpoint, p.protocol);
  const containerUrl = `${service}/${container}`;
  const kind = p.credentials?.credentialsType ?? 'None';
  const via = `datastore ${datastore} (${kind})`;
  if (kind === 'None') {
    const auth = identityAuth(ctx, service, p.accountName, `datastore ${datastore}`);
    return { containerUrl, prefix, auth, via };
  }
  if (kind !== 'AccountKey' && kind !== 'Sas') {
    throw new UserError(
      `Datastore ${datastore} uses ${kind} credentials, which this action does not support.`,
      'Use a datastore with account key, SAS or identity-based access (credentials None) for the model files.',
    );
  }
  let secrets: ArmSecrets;
  try {
    // An empty body asks for the stored secret as it is (the key, or the SAS token).
    secrets = await ctx.arm.post<ArmSecrets>(`${path}/listSecrets`);
  } catch (e) {
    throw explain(e, `Listing the secrets of datastore ${datastore}`);
  }
  if (secrets.key) ctx.logger.secret(secrets.key);
  if (secrets.sasToken) maskUrlSecrets(secrets.sasToken, ctx.logger);
  if (secrets.secretsType === 'AccountKey' && secrets.key) {
    return {
      containerUrl,
      prefix,
      auth: { kind: 'key', accountName: p.accountName, accountKey: secrets.key },
      via,
    };
  }
  if (secrets.secretsType === 'Sas' && secrets.sasToken) {
    return { containerUrl, prefix, auth: { kind: 'sas', sas: secrets.sasToken.replace(/^\?/, '') }, via };
  }
  throw new UserError(
    `Datastore ${datastore} returned no usable ${kind} secret (secretsType ${secrets.secretsType ?? 'missing'}).`,
    'Update the datastore credentials in the workspace (az ml datastore update).',
  );
}

/** Workspace model: ARM version (resolving latest) -> modelUri -> datastore or blob URL. */
export async function resolveWorkspaceModel(
  ref: WorkspaceModelRef,
  ctx: AzureMlContext,
): Promise<ResolvedModel> {
  const ws = workspaceOf(ref, ctx.azure);
  const wsId = workspaceArmId(ws);
  const where = `workspace ${ws.workspace} (resource group ${ws.resourceGroup})`;
  const explain = (e: unknown, what: string) =>
    explainArmError(e, ctx.azure, { what, role: 'AzureML Data Scientist', scope: wsId });
  const version = isLatest(ref.version)
    ? await latestVersion(ctx, wsId, ref.name, where, explain)
    : ref.version;
  const v = await getModelVersion(ctx, wsId, ref.name, version, where, explain);
  const location = parseModelUri(modelUriOf(ctx, v, ref.name, version));
  let access: BlobAccess;
  if (location.kind === 'datastore') {
    access = await datastoreAccess(ctx, location.workspace ?? ws, location.datastore, location.path);
  } else {
    access = {
      containerUrl: `${location.serviceUrl}/${location.container}`,
      prefix: location.path,
      auth: location.sas
        ? { kind: 'sas', sas: location.sas }
        : identityAuth(
            ctx,
            location.serviceUrl,
            location.accountName,
            `the modelUri of ${ref.name}:${version}`,
          ),
      via: location.sas ? 'the SAS in the modelUri' : 'the Azure identity',
    };
  }
  return {
    name: ref.name,
    version,
    modelType: canonicalModelType(v.properties?.modelType),
    source: workspaceModelUri(ws, ref.name, version),
    access,
  };
}

/** Registry model: ARM version -> modelUri (blob URL) -> datareferences credential for its files. */
export async function resolveRegistryModel(
  ref: RegistryModelRef,
  ctx: AzureMlContext,
): Promise<ResolvedModel> {
  const { subscriptionId, resourceGroup } = ctx.azure;
  if (!subscriptionId || !resourceGroup) {
    throw new UserError(
      `The registry model ${ref.name} needs the registry's subscription and resource group.`,
      'Set azure-subscription-id (or subscriptionId in azure-credentials) and azure-resource-group to those of registry ' +
        `${ref.registry}.`,
    );
  }
  const regId = registryArmId(subscriptionId, resourceGroup, ref.registry);
  const where = `registry ${ref.registry}`;
  const explain = (e: unknown, what: string) =>
    explainArmError(e, ctx.azure, { what, role: 'AzureML Registry User', scope: regId });
  const version = isLatest(ref.version)
    ? await latestVersion(ctx, regId, ref.name, where, explain)
    : ref.version;
  const v = await getModelVersion(ctx, regId, ref.name, version, where, explain);
  const modelUri = modelUriOf(ctx, v, ref.name, version);
  const location = parseModelUri(modelUri);
  if (location.kind !== 'blob') {
    throw new UserError(
      `Registry model ${ref.name} version ${version} has modelUri '${displayUrl(modelUri)}', not a blob URL.`,
      'Registry models are stored in the registry storage; re-publish the model to the registry.',
    );
  }
  const assetId = registryModelUri(ref.registry, ref.name, version);
  let reference: ArmDataReference;
  try {
    reference = await ctx.arm.post<ArmDataReference>(
      `${regId}/datareferences/${encodeURIComponent(ref.name)}/versions/${encodeURIComponent(version)}`,
      { assetId, blobUri: modelUri },
    );
  } catch (e) {
    throw explain(e, `Getting read access to the files of ${assetId}`);
  }
  return {
    name: ref.name,
    version,
    modelType: canonicalModelType(v.properties?.modelType),
    source: assetId,
    access: registryAccess(ctx, reference, modelUri, assetId, where),
  };
}

/**
 * Where a registry asset's files are and how to read them, from the datareferences answer. The
 * container and path always come from the blob URI (the answer's, else the modelUri); the credential
 * is one of the service's shapes: `SAS` with a `sasUri` (for the container, or carrying the asset's own
 * path: only its query is used), or `NoCredentials` / `ManagedIdentity` (read with the Azure identity's
 * storage token, on trusted hosts only).
 */
function registryAccess(
  ctx: AzureMlContext,
  reference: ArmDataReference,
  modelUri: string,
  assetId: string,
  where: string,
): BlobAccess {
  const answer = reference.blobReferenceForConsumption ?? {};
  const blobUri = answer.blobUri || modelUri;
  maskUrlSecrets(blobUri, ctx.logger);
  const blob = parseModelUri(blobUri);
  if (blob.kind !== 'blob') {
    throw new UserError(
      `The registry answered blob URI '${displayUrl(blobUri)}' for ${assetId}, which is not a blob URL.`,
      'Re-run; if it persists, re-publish the model version to the registry.',
    );
  }
  const containerUrl = `${blob.serviceUrl}/${blob.container}`;
  const credential = answer.credential ?? {};
  const type = credential.credentialType ?? (credential.sasUri ? 'SAS' : 'NoCredentials');
  const access = (auth: BlobAuth, how: string): BlobAccess => ({
    containerUrl,
    prefix: blob.path,
    auth,
    via: `${where} (${how})`,
  });
  switch (type.toLowerCase()) {
    case 'sas': {
      const sasUri = credential.sasUri;
      if (!sasUri) {
        throw new UserError(
          `The registry returned a SAS credential without a sasUri for ${assetId}.`,
          'Re-run; if it persists, check that the model version finished publishing to the registry.',
        );
      }
      maskUrlSecrets(sasUri, ctx.logger);
      const sas = sasOnContainer(sasUri, containerUrl);
      if (sas === undefined) {
        throw new UserError(
          `The registry's SAS for ${assetId} is for ${displayUrl(sasUri)}, not for the container ${containerUrl} that holds its files.`,
          'Re-run; if it persists, re-publish the model version to the registry.',
        );
      }
      return access({ kind: 'sas', sas }, 'SAS');
    }
    case 'nocredentials':
    case 'managedidentity':
      if (blob.sas) return access({ kind: 'sas', sas: blob.sas }, 'SAS in the blob URI');
      return access(
        identityAuth(ctx, blob.serviceUrl, blob.accountName, `the registry's blob URI for ${assetId}`),
        'Azure identity',
      );
    default:
      throw new UserError(
        `The registry returned a ${type} credential for ${assetId}, which cannot read blob files.`,
        'Use a registry whose storage grants SAS or identity access to model files.',
      );
  }
}

/** The query of a SAS URI issued for `containerUrl` or a blob or folder inside it; undefined otherwise. */
function sasOnContainer(sasUri: string, containerUrl: string): string | undefined {
  let url: URL;
  try {
    url = new URL(sasUri);
  } catch {
    return undefined;
  }
  const target = new URL(containerUrl);
  const sameHost = url.protocol === target.protocol && url.host.toLowerCase() === target.host.toLowerCase();
  const inside =
    sameHost && `${url.pathname.replace(/\/+$/, '')}/`.startsWith(`${target.pathname.replace(/\/+$/, '')}/`);
  return inside && url.search.length > 1 ? url.search.slice(1) : undefined;
}
