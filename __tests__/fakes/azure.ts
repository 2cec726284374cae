/**
 * A faithful local fake of the two Azure control planes the model source talks to, over TLS (the test
 * CA, see tls.ts), on 127.0.0.1:
 *
 * - Entra ID (v2 endpoints MSAL calls with `disableInstanceDiscovery` and a custom `authorityHost`):
 *   `GET /{tenant}/v2.0/.well-known/openid-configuration` and `POST /{tenant}/oauth2/v2.0/token`
 *   (client_credentials with `client_secret` or a federated `client_assertion`), with Entra's error
 *   bodies (AADSTS codes). Access tokens are JWTs shaped like Entra's (aud, iss, tid, appid, oid, nbf,
 *   exp), so Azurite's `--oauth basic` accepts the storage ones.
 * - ARM (Microsoft.MachineLearningServices): model versions (GET, list with `$orderBy`/`$top` and
 *   paging via nextLink), model containers (GET, list), datastores (GET, `listSecrets`), registry model
 *   versions and `datareferences`, with ARM's error bodies `{"error":{"code","message"}}`, bearer-token
 *   checks (401) and role assignments (403 AuthorizationFailed).
 *
 * Both sides accept injected faults (a canned status with headers/body, or a connection reset) and
 * record every request, so tests can see retries.
 *
 * No emulator exists for either service; this is written on node:https on purpose, kept to the paths,
 * JSON and error shapes of the real services.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serverTlsOptions } from './tls.js';

export const GITHUB_OIDC_ISSUER = 'https://token.actions.githubusercontent.com';
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

export type Role = 'Owner' | 'Reader' | 'AzureML Data Scientist' | 'AzureML Registry User';

export interface FederatedCredential {
  issuer: string;
  subject: string;
  audience: string;
}

export interface PrincipalSpec {
  clientId: string;
  /** Accepted client secret (ClientSecretCredential). */
  secret?: string;
  /** Federated credentials (ClientAssertionCredential with a GitHub OIDC token). */
  federated?: FederatedCredential[];
  /**
   * Whether the principal holds "Storage Blob Data Reader" on the storage the tests use. Azurite has no
   * RBAC, so a principal without it receives storage tokens Azurite rejects with 403, as storage would.
   */
  storageDataReader?: boolean;
}

export interface ModelVersionSpec {
  name: string;
  version: string;
  modelUri: string;
  /** e.g. custom_model, mlflow_model, triton_model (as ARM returns it). */
  modelType?: string;
  /** ISO time; default: now plus the insertion order, so later additions are newer. */
  createdAt?: string;
}

export interface DatastoreSpec {
  name: string;
  accountName: string;
  containerName: string;
  /** Endpoint suffix, e.g. core.windows.net */
  endpoint?: string;
  protocol?: string;
  datastoreType?: 'AzureBlob' | 'AzureDataLakeGen2';
  credentialsType: 'AccountKey' | 'Sas' | 'None' | 'ServicePrincipal' | 'Certificate';
  /** The secret listSecrets returns (AccountKey: key; Sas: sasToken). */
  secret?: string;
}

export interface Workspace {
  subscriptionId: string;
  resourceGroup: string;
  workspace: string;
}

export interface Registry {
  subscriptionId: string;
  resourceGroup: string;
  registry: string;
}

/**
 * What `datareferences` answers for a registry model version, in the service's shapes: a SAS (its
 * `sasUri` may name the container or carry the asset's own path), or `NoCredentials` (the caller reads
 * the blob URI with its own storage token). `blobUri` defaults to the version's modelUri.
 */
export type DataReferenceSpec =
  | { credentialType: 'SAS'; sasUri: string; blobUri?: string }
  | { credentialType: 'NoCredentials'; blobUri?: string };

export type FakeAction =
  { status: number; headers?: Record<string, string>; body?: string } | { reset: 'before' };

export interface FakeFault {
  match: { method?: string; path?: RegExp };
  times?: number;
  action: FakeAction;
}

export interface FakeRequest {
  method: string;
  /** Path and query as sent. */
  path: string;
  status: number;
  /** Request body (form or JSON) as text. */
  body: string;
}

export interface FakeAzure {
  /** https://127.0.0.1:PORT: both authority host and ARM endpoint. */
  url: string;
  authorityHost: string;
  resourceManagerEndpoint: string;
  tenantId: string;
  requests: FakeRequest[];
  /** Every access token issued so far (they are secrets: tests check none is logged). */
  issuedTokens: string[];
  addPrincipal(spec: PrincipalSpec): void;
  /** Role assignment for a principal (by client id) at an ARM scope (a resource id prefix). */
  grant(clientId: string, scope: string, role: Role): void;
  addModelVersion(ws: Workspace, spec: ModelVersionSpec): void;
  addDatastore(ws: Workspace, spec: DatastoreSpec): void;
  addRegistryModelVersion(reg: Registry, spec: ModelVersionSpec): void;
  /** What `datareferences` returns for that registry model version (replacing any earlier answer). */
  setDataReference(reg: Registry, name: string, version: string, reference: DataReferenceSpec): void;
  addFault(fault: FakeFault): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export function workspaceId(ws: Workspace): string {
  return (
    `/subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}` +
    `/providers/Microsoft.MachineLearningServices/workspaces/${ws.workspace}`
  );
}

export function registryId(reg: Registry): string {
  return (
    `/subscriptions/${reg.subscriptionId}/resourceGroups/${reg.resourceGroup}` +
    `/providers/Microsoft.MachineLearningServices/registries/${reg.registry}`
  );
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** An unsigned-in-spirit JWT (random signature): enough for parsers that read claims. */
export function makeJwt(claims: Record<string, unknown>): string {
  const header = { alg: 'RS256', typ: 'JWT', kid: 'fake-key' };
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${b64url(randomBytes(64))}`;
}

function decodeJwt(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A GitHub Actions OIDC token as `core.getIDToken(audience)` returns it. */
export function makeGithubOidcToken(opts: { subject: string; audience?: string; issuer?: string }): string {
  const now = Math.floor(Date.now() / 1000);
  return makeJwt({
    iss: opts.issuer ?? GITHUB_OIDC_ISSUER,
    sub: opts.subject,
    aud: opts.audience ?? TOKEN_EXCHANGE_AUDIENCE,
    repository: opts.subject.split(':')[1] ?? 'owner/repo',
    nbf: now - 5,
    iat: now - 5,
    exp: now + 300,
  });
}

const lower = (s: string) => s.toLowerCase();
const ML = 'Microsoft.MachineLearningServices';

const ROLE_ACTIONS: Record<Role, (action: string) => boolean> = {
  Owner: () => true,
  Reader: (a) => a.endsWith('/read'),
  'AzureML Data Scientist': (a) =>
    (a.startsWith(`${ML}/workspaces/`) && a.endsWith('/read')) ||
    a === `${ML}/workspaces/datastores/listsecrets/action`,
  'AzureML Registry User': (a) =>
    a.startsWith(`${ML}/registries/`) && (a.endsWith('/read') || a.endsWith('/action')),
};

interface Principal extends PrincipalSpec {
  objectId: string;
}

interface IssuedToken {
  clientId: string;
  audience: string;
  expiresAt: number;
}

interface StoredModelVersion extends ModelVersionSpec {
  createdAt: string;
}

interface AssetStore {
  id: string;
  models: Map<string, Map<string, StoredModelVersion>>;
  datastores: Map<string, DatastoreSpec>;
  dataReferences: Map<string, DataReferenceSpec>;
}

class ArmError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Azure ML's own 404 for an unknown asset (code UserError, inner NotFound), as the service sends it. */
function assetNotFound(what: string): ArmError {
  return new ArmError(404, 'UserError', `Could not find ${what}.`);
}

function systemData(createdAt: string): Record<string, unknown> {
  return {
    createdAt,
    createdBy: 'someone@example.com',
    createdByType: 'User',
    lastModifiedAt: createdAt,
    lastModifiedBy: 'someone@example.com',
    lastModifiedByType: 'User',
  };
}

function compareVersions(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isFinite(na) && Number.isFinite(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface FakeAzureOptions {
  /** Items per page in list responses (ARM pages with nextLink). Default 100. */
  pageSize?: number;
  /** Lifetime of issued tokens in seconds. Default 3599. */
  tokenLifetimeSeconds?: number;
}

export async function startFakeAzure(options: FakeAzureOptions = {}): Promise<FakeAzure> {
  const pageSize = options.pageSize ?? 100;
  const lifetime = options.tokenLifetimeSeconds ?? 3599;
  const tenantId = randomUUID();
  const principals = new Map<string, Principal>();
  const grants: Array<{ clientId: string; scope: string; role: Role }> = [];
  const tokens = new Map<string, IssuedToken>();
  const issuedTokens: string[] = [];
  const stores = new Map<string, AssetStore>();
  const faults: Array<{ fault: FakeFault; remaining: number }> = [];
  const requests: FakeRequest[] = [];
  let baseUrl = '';
  let clock = 0;

  const store = (id: string): AssetStore => {
    let s = stores.get(lower(id));
    if (!s) {
      s = { id, models: new Map(), datastores: new Map(), dataReferences: new Map() };
      stores.set(lower(id), s);
    }
    return s;
  };

  const addVersion = (id: string, spec: ModelVersionSpec): void => {
    const s = store(id);
    let versions = s.models.get(lower(spec.name));
    if (!versions) {
      versions = new Map();
      s.models.set(lower(spec.name), versions);
    }
    clock += 1;
    const createdAt = spec.createdAt ?? new Date(Date.UTC(2025, 0, 1) + clock * 60_000).toISOString();
    versions.set(spec.version, { ...spec, createdAt });
  };

  // ---------- Entra ID ----------

  const openIdConfiguration = (tenant: string) => {
    const base = `${baseUrl}/${tenant}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${baseUrl}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid'],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  };

  const entraError = (status: number, error: string, aadsts: number, description: string) => ({
    status,
    body: {
      error,
      error_description: `AADSTS${aadsts}: ${description} Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [aadsts],
      timestamp: new Date().toISOString(),
      trace_id: randomUUID(),
      correlation_id: randomUUID(),
      error_uri: `${baseUrl}/error?code=${aadsts}`,
    },
  });

  const issueToken = (
    tenant: string,
    form: URLSearchParams,
  ): { status: number; body: Record<string, unknown> } => {
    if (tenant !== tenantId && tenant !== 'organizations') {
      return entraError(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    }
    if (form.get('grant_type') !== 'client_credentials') {
      return entraError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    }
    const clientId = form.get('client_id') ?? '';
    const principal = principals.get(clientId);
    if (!principal) {
      return entraError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
      );
    }
    const scope = form.get('scope') ?? '';
    const scopes = scope.split(' ').filter(Boolean);
    const resourceScope = scopes.find((s) => s.endsWith('/.default'));
    if (
      !resourceScope ||
      scopes.some((s) => s !== resourceScope && !['openid', 'profile', 'offline_access'].includes(s))
    ) {
      return entraError(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    }
    const secret = form.get('client_secret');
    const assertion = form.get('client_assertion');
    if (secret !== null) {
      if (!principal.secret || secret !== principal.secret) {
        return entraError(
          401,
          'invalid_client',
          7000215,
          'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
        );
      }
    } else if (assertion !== null) {
      if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
        return entraError(400, 'invalid_request', 50027, 'Invalid client_assertion_type.');
      }
      const claims = decodeJwt(assertion);
      if (!claims) {
        return entraError(400, 'invalid_client', 50027, 'JWT token is invalid or malformed.');
      }
      const exp = typeof claims.exp === 'number' ? claims.exp : 0;
      if (exp * 1000 < Date.now()) {
        return entraError(
          400,
          'invalid_client',
          700024,
          'Client assertion is not within its valid time range.',
        );
      }
      const ok = (principal.federated ?? []).some(
        (f) => f.issuer === claims.iss && f.subject === claims.sub && f.audience === claims.aud,
      );
      if (!ok) {
        return entraError(
          400,
          'invalid_client',
          70021,
          `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims.iss)}'. Assertion Subject: '${String(claims.sub)}'. Assertion Audience: '${String(claims.aud)}'. https://learn.microsoft.com/entra/workload-id/workload-identity-federation`,
        );
      }
    } else {
      return entraError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    const audience = resourceScope.slice(0, -'/.default'.length);
    const now = Math.floor(Date.now() / 1000);
    const isStorage = audience === 'https://storage.azure.com';
    const denied = isStorage && principal.storageDataReader === false;
    const token = makeJwt({
      aud: audience,
      iss: `https://sts.windows.net/${tenantId}/`,
      iat: now - 5,
      // A principal without the storage data role: the emulator rejects this token (see PrincipalSpec).
      nbf: denied ? now + 24 * 3600 : now - 5,
      exp: now + lifetime,
      aio: b64url(randomBytes(24)),
      appid: clientId,
      appidacr: secret !== null ? '1' : '2',
      idp: `https://sts.windows.net/${tenantId}/`,
      oid: principal.objectId,
      rh: b64url(randomBytes(16)),
      sub: principal.objectId,
      tid: tenantId,
      uti: b64url(randomBytes(16)),
      ver: '1.0',
    });
    tokens.set(token, { clientId, audience, expiresAt: (now + lifetime) * 1000 });
    issuedTokens.push(token);
    return {
      status: 200,
      body: { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token },
    };
  };

  // ---------- ARM ----------

  const authenticate = (req: IncomingMessage): Principal => {
    const header = req.headers.authorization;
    if (!header) {
      throw new ArmError(
        401,
        'AuthenticationFailed',
        "Authentication failed. The 'Authorization' header is missing.",
        {
          'www-authenticate': `Bearer authorization_uri="${baseUrl}/${tenantId}", error="invalid_token", error_description="The authentication failed because of missing 'Authorization' header."`,
        },
      );
    }
    const m = /^Bearer (\S+)$/.exec(header);
    const issued = m?.[1] ? tokens.get(m[1]) : undefined;
    if (!issued) {
      throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.', {
        'www-authenticate': `Bearer authorization_uri="${baseUrl}/${tenantId}", error="invalid_token", error_description="The access token is invalid."`,
      });
    }
    if (issued.expiresAt < Date.now()) {
      throw new ArmError(
        401,
        'ExpiredAuthenticationToken',
        'The access token expiry UTC time is earlier than current UTC time.',
      );
    }
    if (issued.audience.replace(/\/$/, '') !== baseUrl) {
      throw new ArmError(
        401,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${issued.audience}'. It should exactly match with one of the allowed audiences '${baseUrl}/'.`,
      );
    }
    return principals.get(issued.clientId)!;
  };

  const authorize = (principal: Principal, action: string, scope: string): void => {
    const allowed = grants.some(
      (g) =>
        g.clientId === principal.clientId &&
        lower(scope).startsWith(lower(g.scope)) &&
        ROLE_ACTIONS[g.role](action),
    );
    if (!allowed) {
      throw new ArmError(
        403,
        'AuthorizationFailed',
        `The client '${principal.clientId}' with object id '${principal.objectId}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      );
    }
  };

  const checkApiVersion = (query: URLSearchParams): void => {
    const v = query.get('api-version');
    if (!v) {
      throw new ArmError(
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    if (!/^20(2[4-9]|[3-9]\d)-\d\d-\d\d$/.test(v) || v < '2024-04-01') {
      throw new ArmError(
        400,
        'InvalidApiVersionParameter',
        `The api-version '${v}' is invalid. The supported versions are '2024-04-01,2024-10-01,2025-06-01'.`,
      );
    }
  };

  const modelVersionJson = (parentId: string, kind: 'workspaces' | 'registries', v: StoredModelVersion) => ({
    id: `${parentId}/models/${v.name}/versions/${v.version}`,
    name: v.version,
    type: `${ML}/${kind}/models/versions`,
    properties: {
      description: null,
      tags: {},
      properties: {},
      isArchived: false,
      isAnonymous: false,
      flavors: null,
      jobName: null,
      modelType: v.modelType ?? 'custom_model',
      modelUri: v.modelUri,
      stage: 'Development',
      provisioningState: 'Succeeded',
    },
    systemData: systemData(v.createdAt),
  });

  const containerJson = (parentId: string, kind: 'workspaces' | 'registries', name: string) => {
    const versions = [...(store(parentId).models.get(lower(name))?.values() ?? [])];
    const latest = versions.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1))[0];
    const first = versions[versions.length - 1];
    return {
      id: `${parentId}/models/${first?.name ?? name}`,
      name: first?.name ?? name,
      type: `${ML}/${kind}/models`,
      properties: {
        description: null,
        tags: {},
        properties: {},
        isArchived: false,
        latestVersion: latest?.version ?? null,
        nextVersion: String(versions.reduce((n, v) => Math.max(n, Number(v.version) || 0), 0) + 1),
        provisioningState: 'Succeeded',
      },
      systemData: systemData(first?.createdAt ?? new Date().toISOString()),
    };
  };

  const page = <T>(items: T[], query: URLSearchParams, path: string) => {
    const top = Number(query.get('$top') ?? pageSize);
    const skip = Number(query.get('$skipToken') ?? 0);
    const size = Math.min(top, pageSize);
    const slice = items.slice(skip, skip + size);
    const body: { value: T[]; nextLink?: string } = { value: slice };
    if (!query.has('$top') && skip + size < items.length) {
      const next = new URLSearchParams(query);
      next.set('$skipToken', String(skip + size));
      body.nextLink = `${baseUrl}${path}?${next.toString()}`;
    }
    return body;
  };

  const datastoreJson = (wsId: string, d: DatastoreSpec) => ({
    id: `${wsId}/datastores/${d.name}`,
    name: d.name,
    type: `${ML}/workspaces/datastores`,
    properties: {
      description: null,
      tags: {},
      properties: {},
      isDefault: d.name === 'workspaceblobstore',
      credentials: { credentialsType: d.credentialsType },
      datastoreType: d.datastoreType ?? 'AzureBlob',
      accountName: d.accountName,
      ...(d.datastoreType === 'AzureDataLakeGen2'
        ? { filesystem: d.containerName }
        : { containerName: d.containerName }),
      endpoint: d.endpoint ?? 'core.windows.net',
      protocol: d.protocol ?? 'https',
      serviceDataAccessAuthIdentity: 'None',
    },
    systemData: systemData(new Date(Date.UTC(2025, 0, 1)).toISOString()),
  });

  const PARENT =
    /^(\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearningServices\/(workspaces|registries)\/[^/]+)(\/.*)?$/i;

  const arm = (req: IncomingMessage, path: string, query: URLSearchParams, body: string): unknown => {
    const principal = authenticate(req);
    checkApiVersion(query);
    const m = PARENT.exec(path);
    if (!m?.[1] || !m[2])
      throw new ArmError(404, 'InvalidResourceType', `The resource type could not be found for '${path}'.`);
    const parentId = m[1];
    const kind = lower(m[2]) as 'workspaces' | 'registries';
    const rest = m[3] ?? '';
    const known = stores.get(lower(parentId));
    const method = req.method ?? 'GET';
    const segs = rest.split('/').filter(Boolean).map(decodeURIComponent);
    const [c0, n, c2, v, c4] = segs;
    const requireParent = (): AssetStore => {
      if (!known) {
        const name = parentId.split('/').pop();
        const rg = parentId.split('/')[4];
        throw new ArmError(
          404,
          'ResourceNotFound',
          `The Resource '${ML}/${kind}/${name}' under resource group '${rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix`,
        );
      }
      return known;
    };
    const scope = `${parentId}${rest}`;
    const act = (suffix: string) => `${ML}/${kind}/${suffix}`;

    if (lower(c0 ?? '') === 'models' && method === 'GET') {
      if (n === undefined) {
        authorize(principal, act('models/read'), scope);
        const s = requireParent();
        return page(
          [...s.models.keys()].map((k) => containerJson(parentId, kind, k)),
          query,
          path,
        );
      }
      if (c2 === undefined) {
        authorize(principal, act('models/read'), scope);
        const s = requireParent();
        if (!s.models.has(lower(n))) throw assetNotFound(`model container with name ${n}`);
        return containerJson(parentId, kind, n);
      }
      if (lower(c2) === 'versions' && v === undefined) {
        authorize(principal, act('models/versions/read'), scope);
        const s = requireParent();
        const versions = [...(s.models.get(lower(n))?.values() ?? [])];
        const orderBy = lower(query.get('$orderBy') ?? '');
        if (orderBy === 'createdtime desc') versions.sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
        else if (orderBy === 'createdtime asc') versions.sort((a, b) => (a.createdAt < b.createdAt ? -1 : 1));
        else if (orderBy)
          throw new ArmError(400, 'UserError', `Unsupported $orderBy value '${query.get('$orderBy')}'.`);
        else versions.sort((a, b) => compareVersions(b.version, a.version));
        return page(
          versions.map((x) => modelVersionJson(parentId, kind, x)),
          query,
          path,
        );
      }
      if (lower(c2) === 'versions' && v !== undefined && c4 === undefined) {
        authorize(principal, act('models/versions/read'), scope);
        const s = requireParent();
        const found = s.models.get(lower(n))?.get(v);
        if (!found) {
          throw assetNotFound(
            `asset with ID: azureml://${kind === 'registries' ? `registries/${parentId.split('/').pop()}` : `locations/eastus/workspaces/${randomUUID()}`}/models/${n}/versions/${v}`,
          );
        }
        return modelVersionJson(parentId, kind, found);
      }
    }
    if (kind === 'workspaces' && lower(c0 ?? '') === 'datastores' && n !== undefined) {
      const s = requireParent();
      const d = s.datastores.get(lower(n));
      if (c2 === undefined && method === 'GET') {
        authorize(principal, act('datastores/read'), scope);
        if (!d) throw assetNotFound(`datastore with name ${n}`);
        return datastoreJson(parentId, d);
      }
      if (c2 !== undefined && lower(c2) === 'listsecrets' && method === 'POST') {
        authorize(principal, act('datastores/listsecrets/action'), scope);
        if (!d) throw assetNotFound(`datastore with name ${n}`);
        if (body.trim()) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {
            throw new ArmError(400, 'UserError', 'The request body is not valid JSON.');
          }
          const keys = Object.keys(parsed as object);
          if (keys.some((k) => k !== 'expirableSecret')) {
            throw new ArmError(400, 'UserError', `Unknown body properties: ${keys.join(', ')}.`);
          }
        }
        if (d.credentialsType === 'AccountKey') return { secretsType: 'AccountKey', key: d.secret };
        if (d.credentialsType === 'Sas') return { secretsType: 'Sas', sasToken: d.secret };
        throw new ArmError(
          400,
          'UserError',
          `Datastore ${d.name} has credentials of type ${d.credentialsType}, which have no secrets to list.`,
        );
      }
    }
    if (
      kind === 'registries' &&
      lower(c0 ?? '') === 'datareferences' &&
      n !== undefined &&
      lower(c2 ?? '') === 'versions' &&
      v !== undefined &&
      method === 'POST'
    ) {
      authorize(principal, act('datareferences/versions/action'), scope);
      const s = requireParent();
      const version = s.models.get(lower(n))?.get(v);
      const reference = s.dataReferences.get(`${lower(n)}/${v}`);
      if (!version || !reference) throw assetNotFound(`data reference for ${n} version ${v}`);
      let parsed: { assetId?: unknown; blobUri?: unknown };
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        throw new ArmError(400, 'UserError', 'The request body is not valid JSON.');
      }
      const regName = parentId.split('/').pop();
      const expectedAsset = `azureml://registries/${regName}/models/${n}/versions/${v}`;
      if (parsed.assetId !== expectedAsset) {
        throw new ArmError(
          400,
          'UserError',
          `assetId must be ${expectedAsset}; got ${String(parsed.assetId)}.`,
        );
      }
      if (parsed.blobUri !== version.modelUri) {
        throw new ArmError(400, 'UserError', `blobUri does not belong to asset ${expectedAsset}.`);
      }
      return {
        blobReferenceForConsumption: {
          blobUri: reference.blobUri ?? version.modelUri,
          storageAccountArmId: `/subscriptions/${parentId.split('/')[2]}/resourceGroups/registry-rg/providers/Microsoft.Storage/storageAccounts/registrystorage`,
          credential:
            reference.credentialType === 'SAS'
              ? { credentialType: 'SAS', sasUri: reference.sasUri, wasbsUri: null }
              : { credentialType: 'NoCredentials' },
        },
        imageReferenceForConsumption: null,
      };
    }
    throw new ArmError(
      404,
      'NoRegisteredProviderFound',
      `No registered resource provider found for the path '${path}' and method ${method}.`,
    );
  };

  // ---------- HTTP ----------

  const send = (
    res: ServerResponse,
    record: FakeRequest,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    record.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'x-ms-request-id': randomUUID(),
      'x-ms-correlation-request-id': randomUUID(),
      ...headers,
    });
    res.end(text);
  };

  const takeFault = (method: string, path: string): FakeAction | undefined => {
    const i = faults.findIndex(
      ({ fault: { match } }) =>
        (match.method === undefined || match.method.toUpperCase() === method) &&
        (match.path === undefined || match.path.test(path)),
    );
    if (i < 0) return undefined;
    const f = faults[i]!;
    f.remaining -= 1;
    if (f.remaining <= 0) faults.splice(i, 1);
    return f.fault.action;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, body: string) => {
    const method = (req.method ?? 'GET').toUpperCase();
    const rawPath = req.url ?? '/';
    const record: FakeRequest = { method, path: rawPath, status: 0, body };
    requests.push(record);
    const fault = takeFault(method, rawPath);
    if (fault) {
      if ('reset' in fault) {
        req.socket.destroy();
        return;
      }
      send(res, record, fault.status, fault.body ?? '', fault.headers);
      return;
    }
    const url = new URL(rawPath, baseUrl);
    const path = url.pathname;
    const oidc = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(path);
    if (oidc?.[1] && method === 'GET') {
      const tenant = oidc[1];
      if (tenant !== tenantId && tenant !== 'organizations' && tenant !== 'common') {
        send(
          res,
          record,
          400,
          entraError(400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found.`).body,
        );
        return;
      }
      send(res, record, 200, openIdConfiguration(tenant));
      return;
    }
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(path);
    if (token?.[1] && method === 'POST') {
      if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
        send(
          res,
          record,
          400,
          entraError(
            400,
            'invalid_request',
            900144,
            "The request body must contain the following parameter: 'grant_type'.",
          ).body,
        );
        return;
      }
      const r = issueToken(token[1], new URLSearchParams(body));
      send(res, record, r.status, r.body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
      return;
    }
    if (/^\/subscriptions\//i.test(path)) {
      try {
        send(res, record, 200, arm(req, path, url.searchParams, body));
      } catch (e) {
        if (!(e instanceof ArmError)) throw e;
        send(res, record, e.status, { error: { code: e.code, message: e.message } }, e.headers);
      }
      return;
    }
    send(res, record, 404, {
      error: { code: 'NotFound', message: `fake Azure: no route for ${method} ${path}` },
    });
  };

  const server: Server = createServer(serverTlsOptions(), (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        handle(req, res, Buffer.concat(chunks).toString('utf8'));
      } catch (e) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'InternalServerError', message: String(e) } }));
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `https://127.0.0.1:${port}`;

  return {
    url: baseUrl,
    authorityHost: baseUrl,
    resourceManagerEndpoint: baseUrl,
    tenantId,
    requests,
    issuedTokens,
    addPrincipal(spec) {
      principals.set(spec.clientId, { ...spec, objectId: randomUUID() });
    },
    grant(clientId, scope, role) {
      grants.push({ clientId, scope, role });
    },
    addModelVersion(ws, spec) {
      addVersion(workspaceId(ws), spec);
    },
    addDatastore(ws, spec) {
      store(workspaceId(ws)).datastores.set(lower(spec.name), spec);
    },
    addRegistryModelVersion(reg, spec) {
      addVersion(registryId(reg), spec);
    },
    setDataReference(reg, name, version, reference) {
      store(registryId(reg)).dataReferences.set(`${lower(name)}/${version}`, reference);
    },
    addFault(fault) {
      faults.push({ fault, remaining: fault.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    stop() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
