/**
 * The `modelUri` of an Azure ML model version: where its files live. Pure parsing with anchored
 * patterns; job-output forms are rejected with the fix.
 */
import { UserError } from '../errors.js';
import { displayUrl } from '../util/url.js';
import type { WorkspaceCoordinates } from './reference.js';

export type ModelLocation =
  | {
      kind: 'datastore';
      datastore: string;
      /** Blob path (prefix) inside the datastore's container, without leading or trailing '/'. */
      path: string;
      /** Set by the long form; the short form means the model's own workspace. */
      workspace?: WorkspaceCoordinates;
    }
  | {
      kind: 'blob';
      /** Blob service URL, e.g. https://acct.blob.core.windows.net (or http://127.0.0.1:10000/acct). */
      serviceUrl: string;
      accountName: string;
      container: string;
      path: string;
      /** A SAS query string carried by the URI itself (secret). */
      sas?: string;
    };

const SEG = '[^/\\s?#]+';
const LONG = new RegExp(
  `^azureml://subscriptions/(${SEG})/resourcegroups/(${SEG})/workspaces/(${SEG})/datastores/(${SEG})/paths/(.+)$`,
  'i',
);
const SHORT = new RegExp(`^azureml://datastores/(${SEG})/paths/(.+)$`, 'i');
const JOB_OUTPUT = /^(?:azureml:\/\/(?:jobs|experiments|runs)\/|runs:\/)/i;
/** Hosts that address accounts by path (emulators, IPs), as the storage SDK does. */
const PATH_STYLE_HOST = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost|host\.docker\.internal)$/i;

function cleanPath(p: string, uri: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(p);
  } catch {
    decoded = p;
  }
  const path = decoded.replace(/^\/+|\/+$/g, '');
  if (!path) {
    throw new UserError(
      `The model's modelUri '${displayUrl(uri)}' has an empty path.`,
      'Re-register the model with a path to its files.',
    );
  }
  return path;
}

/** Parses a modelUri (a leading `file:` or `folder:` marker is dropped). */
export function parseModelUri(input: string): ModelLocation {
  const uri = input.trim().replace(/^(?:file|folder):(?!\/\/\/)/i, '');
  if (JOB_OUTPUT.test(uri)) {
    throw new UserError(
      `The model's modelUri '${displayUrl(uri)}' points at a job output, which cannot be downloaded as a registered model.`,
      "Register the job's output files as a model version with a datastore path " +
        '(az ml model create --name NAME --version V --path azureml://jobs/JOB/outputs/artifacts/paths/model/ copies them), ' +
        'then use that version.',
    );
  }
  let m = LONG.exec(uri);
  if (m) {
    return {
      kind: 'datastore',
      datastore: m[4]!,
      path: cleanPath(m[5]!, uri),
      workspace: { subscriptionId: m[1]!, resourceGroup: m[2]!, workspace: m[3]! },
    };
  }
  m = SHORT.exec(uri);
  if (m) return { kind: 'datastore', datastore: m[1]!, path: cleanPath(m[2]!, uri) };
  if (/^https?:\/\//i.test(uri)) {
    let url: URL;
    try {
      url = new URL(uri);
    } catch {
      throw unsupported(uri);
    }
    const segs = url.pathname.split('/').filter(Boolean);
    let accountName: string;
    let serviceUrl: string;
    if (PATH_STYLE_HOST.test(url.hostname)) {
      accountName = segs.shift() ?? '';
      serviceUrl = `${url.origin}/${accountName}`;
    } else {
      const host = /^([a-z0-9]{3,24})\.blob\./i.exec(url.hostname);
      if (!host) throw unsupported(uri);
      accountName = host[1]!;
      serviceUrl = url.origin;
    }
    const container = segs.shift();
    if (!accountName || !container || segs.length === 0) throw unsupported(uri);
    return {
      kind: 'blob',
      serviceUrl,
      accountName,
      container,
      path: cleanPath(segs.join('/'), uri),
      sas: url.search ? url.search.slice(1) : undefined,
    };
  }
  throw unsupported(uri);
}

function unsupported(uri: string): UserError {
  return new UserError(
    `The model's modelUri '${displayUrl(uri)}' has a form this action cannot download.`,
    'Register the model from blob storage (azureml://datastores/NAME/paths/PATH or an https blob URL).',
  );
}
