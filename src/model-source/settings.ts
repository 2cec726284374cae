/**
 * Azure settings: the action inputs (or CLI flags / environment) that say how to log in and which
 * cloud endpoints to use, merged with the azure/login `creds` JSON. Pure apart from masking.
 */
import { z } from 'zod';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';

export interface AzureSettings {
  /** `azure-client-id` (OIDC: with tenant id and no secret). */
  clientId?: string;
  /** `azure-tenant-id` */
  tenantId?: string;
  /** `azure-subscription-id` (else the creds JSON's subscriptionId) */
  subscriptionId?: string;
  /** `azure-resource-group` */
  resourceGroup?: string;
  /** `azure-workspace` */
  workspace?: string;
  /** `azure-credentials`: the azure/login creds JSON. */
  credentialsJson?: string;
  /** `azure-authority-host` (default https://login.microsoftonline.com) */
  authorityHost?: string;
  /** `azure-resource-manager-endpoint` (default https://management.azure.com) */
  resourceManagerEndpoint?: string;
  /** `azure-blob-endpoint`: template with {account} (and optionally {endpoint-suffix}). */
  blobEndpointTemplate?: string;
}

export const DEFAULT_AUTHORITY_HOST = 'https://login.microsoftonline.com';
export const DEFAULT_RESOURCE_MANAGER = 'https://management.azure.com';
export const DEFAULT_BLOB_ENDPOINT_TEMPLATE = 'https://{account}.blob.{endpoint-suffix}';

/** Storage endpoint suffixes of the Azure clouds, by ARM endpoint host (as `az cloud list` shows them). */
const CLOUD_STORAGE_SUFFIXES: Record<string, string> = {
  'management.azure.com': 'core.windows.net',
  'management.usgovcloudapi.net': 'core.usgovcloudapi.net',
  'management.chinacloudapi.cn': 'core.chinacloudapi.cn',
  'management.microsoftazure.de': 'core.cloudapi.de',
};

/** The blob storage suffix of the cloud an ARM endpoint belongs to; undefined for clouds not listed. */
export function cloudStorageSuffix(resourceManagerEndpoint: string): string | undefined {
  return CLOUD_STORAGE_SUFFIXES[new URL(resourceManagerEndpoint).hostname.toLowerCase()];
}

export type AzureLogin =
  | { kind: 'secret'; tenantId: string; clientId: string; clientSecret: string }
  | { kind: 'oidc'; tenantId: string; clientId: string };

export interface ResolvedAzure {
  login: AzureLogin;
  /** Without a trailing slash. */
  authorityHost: string;
  /** True when the authority is not the public cloud default: instance discovery is then disabled. */
  customAuthority: boolean;
  /** Without a trailing slash. */
  resourceManagerEndpoint: string;
  /** Undefined: `https://{account}.blob.{endpoint-suffix}` with the datastore's protocol and suffix. */
  blobEndpointTemplate?: string;
  /** The cloud's blob storage suffix (core.windows.net ...), from the ARM endpoint; unknown clouds: undefined. */
  storageSuffix?: string;
  subscriptionId?: string;
  resourceGroup?: string;
  workspace?: string;
}

const credsSchema = z.looseObject({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  tenantId: z.string().min(1),
  subscriptionId: z.string().min(1).optional(),
  activeDirectoryEndpointUrl: z.string().min(1).optional(),
  resourceManagerEndpointUrl: z.string().min(1).optional(),
});

type Creds = z.infer<typeof credsSchema>;

const CREDS_FIX =
  'set azure-credentials to the JSON of `az ad sp create-for-rbac --sdk-auth` (clientId, clientSecret, ' +
  'tenantId, subscriptionId), or use OIDC with azure-client-id and azure-tenant-id instead.';

/** Endpoint URLs are public: every other string in the creds JSON is masked. */
const PUBLIC_KEYS = /EndpointUrl$|ResourceId$/;

/** Parses the creds JSON, masking its values before anything else can print them. */
export function parseCredentialsJson(text: string, logger: Logger): Creds {
  logger.secret(text.trim());
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UserError('azure-credentials is not valid JSON.', CREDS_FIX);
  }
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v === 'string' && v && !PUBLIC_KEYS.test(k)) logger.secret(v);
    }
  }
  const parsed = credsSchema.safeParse(raw);
  if (!parsed.success) {
    const keys = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))];
    throw new UserError(
      `azure-credentials is missing or has invalid values for: ${keys.join(', ')}.`,
      CREDS_FIX,
    );
  }
  return parsed.data;
}

function normalizeEndpoint(value: string, input: string, allowHttp: boolean): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw new UserError(`${input} '${value}' is not a valid URL.`, `Set ${input} to an https:// URL.`);
  }
  if (url.protocol !== 'https:' && !(allowHttp && url.protocol === 'http:')) {
    throw new UserError(`${input} '${value}' must use https.`, `Set ${input} to an https:// URL.`);
  }
  return url.toString().replace(/\/+$/, '');
}

const blank = (s: string | undefined): string | undefined => (s?.trim() ? s.trim() : undefined);

/**
 * Merges inputs and the creds JSON (inputs win), masks credentials, and checks that a login method is
 * present. Called only for Azure references.
 */
export function resolveAzureSettings(settings: AzureSettings, logger: Logger): ResolvedAzure {
  const credsText = blank(settings.credentialsJson);
  const creds = credsText ? parseCredentialsJson(credsText, logger) : undefined;
  const clientId = blank(settings.clientId);
  const tenantId = blank(settings.tenantId);
  let login: AzureLogin;
  if (creds) {
    if (clientId && clientId !== creds.clientId) {
      logger.warning('Both azure-credentials and azure-client-id are set: using azure-credentials.');
    }
    login = {
      kind: 'secret',
      tenantId: creds.tenantId,
      clientId: creds.clientId,
      clientSecret: creds.clientSecret,
    };
  } else if (clientId && tenantId) {
    login = { kind: 'oidc', tenantId, clientId };
  } else {
    const missing = clientId ? 'azure-tenant-id is' : tenantId ? 'azure-client-id is' : 'no Azure login is';
    throw new UserError(
      `Cannot read the model from Azure Machine Learning: ${missing} set.`,
      'For OIDC set azure-client-id and azure-tenant-id (and give the job `permissions: id-token: write`), ' +
        'or set azure-credentials to a service principal creds JSON.',
    );
  }
  const authority = blank(settings.authorityHost) ?? blank(creds?.activeDirectoryEndpointUrl);
  const authorityHost = normalizeEndpoint(authority ?? DEFAULT_AUTHORITY_HOST, 'azure-authority-host', false);
  const arm = blank(settings.resourceManagerEndpoint) ?? blank(creds?.resourceManagerEndpointUrl);
  const template = blank(settings.blobEndpointTemplate);
  if (template && !template.includes('{account}')) {
    throw new UserError(
      `azure-blob-endpoint '${template}' has no {account} placeholder.`,
      'Use a template such as https://{account}.blob.core.usgovcloudapi.net or http://127.0.0.1:10000/{account}.',
    );
  }
  if (template) {
    normalizeEndpoint(
      template.replace('{account}', 'account').replace('{endpoint-suffix}', 'suffix'),
      'azure-blob-endpoint',
      true,
    );
  }
  const resourceManagerEndpoint = normalizeEndpoint(
    arm ?? DEFAULT_RESOURCE_MANAGER,
    'azure-resource-manager-endpoint',
    false,
  );
  return {
    login,
    authorityHost,
    customAuthority: authorityHost !== DEFAULT_AUTHORITY_HOST,
    resourceManagerEndpoint,
    blobEndpointTemplate: template?.replace(/\/+$/, ''),
    storageSuffix: cloudStorageSuffix(resourceManagerEndpoint),
    subscriptionId: blank(settings.subscriptionId) ?? creds?.subscriptionId,
    resourceGroup: blank(settings.resourceGroup),
    workspace: blank(settings.workspace),
  };
}

/** The blob service URL of a storage account, e.g. https://acct.blob.core.windows.net */
export function blobServiceUrl(
  template: string | undefined,
  accountName: string,
  endpointSuffix = 'core.windows.net',
  protocol = 'https',
): string {
  const t = template ?? DEFAULT_BLOB_ENDPOINT_TEMPLATE.replace(/^https/, protocol);
  return t.replaceAll('{account}', accountName).replaceAll('{endpoint-suffix}', endpointSuffix);
}

/**
 * The blob service URLs of `accountName` that may receive the Azure identity's storage token: the
 * azure-blob-endpoint template's, and the cloud's own (https://{account}.blob.{cloud suffix}). A modelUri
 * or datastore naming any other host gets no token.
 */
export function identityBlobServiceUrls(azure: ResolvedAzure, accountName: string): string[] {
  const urls: string[] = [];
  const template = azure.blobEndpointTemplate;
  if (template && (azure.storageSuffix || !template.includes('{endpoint-suffix}'))) {
    urls.push(blobServiceUrl(template, accountName, azure.storageSuffix));
  }
  if (azure.storageSuffix) urls.push(blobServiceUrl(undefined, accountName, azure.storageSuffix));
  return urls;
}

/** Compares blob service URLs by scheme, host, port and path (case-insensitive host, no trailing '/'). */
export function sameServiceUrl(a: string, b: string): boolean {
  const norm = (s: string) => {
    const u = new URL(s);
    return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}`;
  };
  try {
    return norm(a) === norm(b);
  } catch {
    return false;
  }
}
