/**
 * The `model` input: one string, parsed with anchored patterns into a discriminated union.
 * Pure: no file system or network access (a local path is recognised by its shape).
 */
import { fileURLToPath } from 'node:url';
import { UserError } from '../errors.js';
import { displayReference } from '../util/url.js';

/** The version sentinel of `name`, `name@latest` and `azureml:name@latest`. */
export const LATEST = 'latest';

export interface WorkspaceModelRef {
  kind: 'workspace';
  name: string;
  /** A version, or `latest` (resolved through ARM). */
  version: string;
  /** Set by the azureml:// and ARM-id forms; otherwise taken from the Azure settings. */
  subscriptionId?: string;
  resourceGroup?: string;
  workspace?: string;
}

export interface RegistryModelRef {
  kind: 'registry';
  registry: string;
  name: string;
  version: string;
}

export interface UrlModelRef {
  kind: 'url';
  /** An https URL (it may carry a SAS query string: treat as a secret when logging). */
  url: string;
}

export interface LocalModelRef {
  kind: 'local';
  /** As given (relative paths resolve against the working directory). */
  path: string;
}

export type ModelReference = WorkspaceModelRef | RegistryModelRef | UrlModelRef | LocalModelRef;

/** Azure ML asset names: letters, digits, `-`, `_`, `.`; starting with a letter or digit. */
const NAME = '[A-Za-z0-9][A-Za-z0-9_.-]{0,254}';
const VERSION = '[A-Za-z0-9][A-Za-z0-9_.-]{0,127}';
/** One ARM path segment (subscription id, resource group, workspace or registry name). */
const SEG = '[^/\\s?#]+';

const SHORT = new RegExp(`^(?:azureml:)?(${NAME})(?::(${VERSION})|@(latest))?$`);
const WORKSPACE_URI = new RegExp(
  `^azureml://subscriptions/(${SEG})/resourcegroups/(${SEG})/workspaces/(${SEG})/models/(${NAME})/versions/(${VERSION})$`,
  'i',
);
const ARM_ID = new RegExp(
  `^azureml:/subscriptions/(${SEG})/resourcegroups/(${SEG})/providers/Microsoft\\.MachineLearningServices/workspaces/(${SEG})/models/(${NAME})/versions/(${VERSION})$`,
  'i',
);
const REGISTRY_URI = new RegExp(
  `^azureml://registries/(${SEG})/models/(${NAME})/versions/(${VERSION})$`,
  'i',
);
const HTTPS_URL = /^https:\/\/\S+$/i;
const FILE_URL = /^file:\/\/\S+$/i;
/** Looks like a path: absolute, ./ ../ ~/ prefixes, a drive letter, a separator inside, or a .onnx file. */
const LOCAL_PATH = /^(?:\.{1,2}|~)$|^(?:\.{1,2}|~)?[\\/]|^[A-Za-z]:[\\/]|^[^:]*[\\/]|\.onnx$/i;

export const ACCEPTED_FORMS = [
  'name:version, name@latest or name (workspace from azure-subscription-id / azure-resource-group / azure-workspace)',
  'azureml:name:version or azureml:name@latest',
  'azureml://subscriptions/{sub}/resourceGroups/{rg}/workspaces/{ws}/models/{name}/versions/{version}',
  'azureml:/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/models/{name}/versions/{version}',
  'azureml://registries/{registry}/models/{name}/versions/{version}',
  'https://... (a plain download of an .onnx file)',
  'a local .onnx file or model folder (./path, /abs/path)',
];

function notAccepted(input: string, why: string): UserError {
  return new UserError(
    `The model reference '${displayReference(input)}' is not accepted: ${why}.`,
    `use one of: ${ACCEPTED_FORMS.join('; ')}.`,
  );
}

/**
 * Parses the `model` input. Throws a UserError listing the accepted forms for anything else.
 * `name:latest` is treated like `name@latest`. A folder in the working directory needs `./name`
 * (a bare `name` is a workspace model).
 */
export function parseModelReference(input: string): ModelReference {
  const s = input.trim();
  if (!s) throw notAccepted(input, 'it is empty');

  let m = WORKSPACE_URI.exec(s) ?? ARM_ID.exec(s);
  if (m) {
    const [, subscriptionId, resourceGroup, workspace, name, version] = m as unknown as string[];
    return { kind: 'workspace', name: name!, version: version!, subscriptionId, resourceGroup, workspace };
  }
  m = REGISTRY_URI.exec(s);
  if (m) return { kind: 'registry', registry: m[1]!, name: m[2]!, version: m[3]! };
  if (/^azureml:\/\/(jobs|experiments|runs)\//i.test(s) || /^runs:\//i.test(s)) {
    throw notAccepted(
      s,
      'it points at a job output; register the output as a model first (az ml model create --path azureml://jobs/...)',
    );
  }
  if (/^azureml:/i.test(s)) {
    m = SHORT.exec(s);
    if (m) return { kind: 'workspace', name: m[1]!, version: m[3] ?? m[2] ?? LATEST };
    throw notAccepted(s, 'it starts with azureml: but matches none of the azureml forms');
  }
  if (HTTPS_URL.test(s)) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      throw notAccepted(s, 'it is not a valid URL');
    }
    if (!url.hostname) throw notAccepted(s, 'the URL has no host');
    return { kind: 'url', url: url.toString() };
  }
  if (/^http:\/\//i.test(s)) {
    throw notAccepted(s, 'plain http is not allowed for model downloads (use https)');
  }
  if (FILE_URL.test(s)) return { kind: 'local', path: fileURLToPath(s) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw notAccepted(s, 'this URL scheme is not supported');
  if (LOCAL_PATH.test(s)) return { kind: 'local', path: s };
  m = SHORT.exec(s);
  if (m) {
    const version = m[3] ?? m[2] ?? LATEST;
    return { kind: 'workspace', name: m[1]!, version };
  }
  throw notAccepted(s, 'it matches none of the accepted forms');
}

/** The canonical azureml:// URI of a workspace model version. */
export function workspaceModelUri(ws: WorkspaceCoordinates, name: string, version: string): string {
  return (
    `azureml://subscriptions/${ws.subscriptionId}/resourceGroups/${ws.resourceGroup}` +
    `/workspaces/${ws.workspace}/models/${name}/versions/${version}`
  );
}

/** The canonical azureml:// URI of a registry model version. */
export function registryModelUri(registry: string, name: string, version: string): string {
  return `azureml://registries/${registry}/models/${name}/versions/${version}`;
}

export interface WorkspaceCoordinates {
  subscriptionId: string;
  resourceGroup: string;
  workspace: string;
}

/** `name:latest` counts as latest too. */
export function isLatest(version: string): boolean {
  return version.toLowerCase() === LATEST;
}
