/**
 * The Azure ML source: workspace models (name:version, name@latest, azureml://..., ARM ids) and registry
 * models (azureml://registries/...), resolved through ARM and downloaded from their Blob Storage
 * datastore. Logins: OIDC (azure-client-id + azure-tenant-id, GitHub's ID token) or the azure/login creds JSON.
 */
import { createArmClient } from './arm.js';
import { resolveRegistryModel, resolveWorkspaceModel } from './azureml.js';
import { LATEST, notAccepted, type RegistryModelRef, type WorkspaceModelRef } from './reference.js';
import { resolveAzureSettings } from './settings.js';
import type { ModelSource } from './source.js';

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

type AzureModelRef = WorkspaceModelRef | RegistryModelRef;

/**
 * `name:latest` is treated like `name@latest`. A bare name ending in .onnx is a local file, and a folder
 * in the working directory needs `./name` (a bare `name` is a workspace model).
 */
function recognise(s: string): AzureModelRef | undefined {
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
  const prefixed = /^azureml:/i.test(s);
  if (!prefixed && /\.onnx$/i.test(s)) return undefined;
  m = SHORT.exec(s);
  if (m) return { kind: 'workspace', name: m[1]!, version: m[3] ?? m[2] ?? LATEST };
  if (prefixed) throw notAccepted(s, 'it starts with azureml: but matches none of the azureml forms');
  return undefined;
}

export const azureSource: ModelSource<AzureModelRef> = {
  kinds: ['workspace', 'registry'],
  recognise,

  async fetch(ref, opts) {
    // The Azure SDKs (a third of the action's bundle) load only for an Azure model: a local or https
    // model's run does not parse them at start-up.
    const [{ containerClientFor, downloadBlobs }, { armScope, createCredential, getAccessToken }] =
      await Promise.all([import('./blob-download.js'), import('./credentials.js')]);
    const azure = resolveAzureSettings(opts.azure ?? {}, opts.logger);
    const credential = createCredential(azure, {
      getIdToken: opts.getIdToken,
      logger: opts.logger,
      retry: opts.retry,
    });
    const arm = createArmClient({
      endpoint: azure.resourceManagerEndpoint,
      getToken: () => getAccessToken(credential, armScope(azure.resourceManagerEndpoint)),
      logger: opts.logger,
      retry: opts.retry,
      fetch: opts.download?.fetch,
    });
    const ctx = { azure, arm, logger: opts.logger };
    const resolved =
      ref.kind === 'workspace' ? await resolveWorkspaceModel(ref, ctx) : await resolveRegistryModel(ref, ctx);
    opts.logger.info(
      `Resolved ${resolved.source}${resolved.modelType ? ` (${resolved.modelType})` : ''} to ${resolved.access.containerUrl}/${resolved.access.prefix}.`,
    );
    const container = containerClientFor(resolved.access, credential);
    const expected = await downloadBlobs(container, resolved.access, {
      destDir: opts.destDir,
      logger: opts.logger,
      retry: opts.retry,
      progress: opts.progress(`${resolved.name}:${resolved.version}`),
      ...opts.download,
    });
    const { name, version, source, modelType } = resolved;
    return { name, version, source, modelType, expected, label: `Model ${source}` };
  },
};
