/**
 * The `model` input's kinds of reference (a discriminated union) and what they share: the accepted forms
 * and the error for a reference that is not one. Each source recognises its own forms (./index.ts asks
 * them in turn); recognising is pure: no file system or network access.
 */
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

/** Any `scheme://` URL (a source that reads none of them leaves it to the 'not supported' error). */
export const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

export const ACCEPTED_FORMS = [
  'name:version, name@latest or name (workspace from azure-subscription-id / azure-resource-group / azure-workspace)',
  'azureml:name:version or azureml:name@latest',
  'azureml://subscriptions/{sub}/resourceGroups/{rg}/workspaces/{ws}/models/{name}/versions/{version}',
  'azureml:/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}/models/{name}/versions/{version}',
  'azureml://registries/{registry}/models/{name}/versions/{version}',
  'https://... (a plain download of an .onnx file)',
  'a local .onnx file or model folder (./path, /abs/path)',
];

/** The error for a reference no source accepts, or one a source recognises but finds malformed. */
export function notAccepted(input: string, why: string): UserError {
  return new UserError(
    `The model reference '${displayReference(input)}' is not accepted: ${why}.`,
    `Use one of: ${ACCEPTED_FORMS.join('; ')}.`,
  );
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
