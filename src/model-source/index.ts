/**
 * Model sources: turn the `model` input into a verified local copy of the model.
 *
 *   const ref = parseModelReference(input);            // UserError listing the accepted forms
 *   const model = await fetchModel(ref, { azure, destDir, expectedSha256, logger, getIdToken });
 *
 * Sources: Azure ML workspace models (name:version, name@latest, azureml://..., ARM ids), Azure ML
 * registry models, https URLs and local files or folders. Azure logins: OIDC (azure-client-id +
 * azure-tenant-id, GitHub's ID token through `getIdToken`) or the azure/login creds JSON.
 *
 * Name and version: Azure models keep theirs. A local path or URL takes its name from the file (minus
 * .onnx; the folder's name for a generic model.onnx) or folder, and its version is the first 12 hex
 * digits of the model digest (content-addressed: the same bytes always give the same version).
 *
 * Digest (`sha256`): a single-file model's sha256; for a folder, the sha256 of its sorted
 * `sha256sum` manifest (see integrity.ts).
 */
import { mkdir, readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UserError } from '../errors.js';
import type { Logger } from '../util/log.js';
import type { RetryOptions } from '../util/retry.js';
import { createArmClient } from './arm.js';
import { resolveRegistryModel, resolveWorkspaceModel, type ResolvedModel } from './azureml.js';
import { containerClientFor, downloadBlobs } from './blob-download.js';
import { armScope, createCredential, getAccessToken, type GetIdToken } from './credentials.js';
import { downloadUrl } from './https-download.js';
import { displayUrl } from '../util/url.js';
import { checkExpectedSha256, digestFiles, modelDigest, type ExpectedFile } from './integrity.js';
import { copyLocalModel, nameFromPath } from './local.js';
import { findOnnxFile } from './model-file.js';
import { createProgress } from '../util/progress.js';
import type { ModelReference } from './reference.js';
import { resolveAzureSettings, type AzureSettings } from './settings.js';

export { parseModelReference, ACCEPTED_FORMS, LATEST } from './reference.js';
export type {
  ModelReference,
  WorkspaceModelRef,
  RegistryModelRef,
  UrlModelRef,
  LocalModelRef,
} from './reference.js';
export type { AzureSettings } from './settings.js';
export type { GetIdToken } from './credentials.js';

export interface FetchedFile {
  /** Relative to `dir`, '/'-separated. */
  path: string;
  size: number;
  sha256: string;
}

export interface FetchedModel {
  /** The directory holding the model's files (the `destDir` given). */
  dir: string;
  name: string;
  version: string;
  /** Canonical reference: azureml:// URI, the URL without its query, or the local path as given. */
  source: string;
  files: FetchedFile[];
  /** Model digest (hex). */
  sha256: string;
  /** Relative path of the .onnx file inside `dir`. */
  modelFile: string;
  /** Azure ML model type (custom_model, mlflow_model, triton_model) when the source has one. */
  modelType?: string;
}

export interface FetchOptions {
  azure: AzureSettings;
  /** Created if missing; should be empty. */
  destDir: string;
  /** The `model-sha256` input. */
  expectedSha256?: string;
  logger: Logger;
  /** `core.getIDToken` (OIDC); absent in the CLI. */
  getIdToken?: GetIdToken;
  retry?: RetryOptions;
  /** Tuning and test seams. */
  download?: {
    fileConcurrency?: number;
    rangeThreshold?: number;
    rangeSize?: number;
    rangeConcurrency?: number;
    progressIntervalMs?: number;
    fetch?: typeof fetch;
  };
}

async function fromAzure(
  ref: Extract<ModelReference, { kind: 'workspace' | 'registry' }>,
  opts: FetchOptions,
  progress: (label: string) => (total: number, files: number) => ReturnType<typeof createProgress>,
): Promise<{ resolved: ResolvedModel; expected: ExpectedFile[] }> {
  const azure = resolveAzureSettings(opts.azure, opts.logger);
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
    progress: progress(`${resolved.name}:${resolved.version}`),
    ...opts.download,
  });
  return { resolved, expected };
}

/** Downloads (or copies) the model into `destDir` and verifies it. */
export async function fetchModel(ref: ModelReference, opts: FetchOptions): Promise<FetchedModel> {
  const destDir = resolve(opts.destDir);
  await mkdir(destDir, { recursive: true });
  if ((await readdir(destDir)).length > 0) {
    throw new Error(`fetchModel: destination ${destDir} is not empty`);
  }
  const progress = (label: string) => (totalBytes: number, files: number) =>
    createProgress({
      label,
      totalBytes,
      files,
      logger: opts.logger,
      intervalMs: opts.download?.progressIntervalMs,
    });
  const o = { ...opts, destDir };

  let name: string | undefined;
  let version: string | undefined;
  let source: string;
  let modelType: string | undefined;
  let expected: ExpectedFile[] = [];
  let label: string;
  switch (ref.kind) {
    case 'workspace':
    case 'registry': {
      const r = await fromAzure(ref, o, progress);
      ({ name, version, source, modelType } = r.resolved);
      expected = r.expected;
      label = `Model ${source}`;
      break;
    }
    case 'url': {
      source = displayUrl(ref.url);
      const file = await downloadUrl(ref.url, {
        destDir,
        logger: opts.logger,
        retry: opts.retry,
        fetch: opts.download?.fetch,
        progress: progress(source),
      });
      expected = [file];
      name = nameFromPath(new URL(ref.url).pathname, true);
      label = `The file downloaded from ${source}`;
      break;
    }
    case 'local': {
      source = ref.path;
      const { singleFile } = await copyLocalModel(ref.path, destDir);
      name = nameFromPath(resolve(ref.path), singleFile);
      label = `The model at ${ref.path}`;
      break;
    }
  }

  const files = await digestFiles(destDir, expected);
  if (files.length === 0) {
    throw new UserError(`${label} has no files.`, 'point at a .onnx file or a folder that holds one.');
  }
  const modelFile = await findOnnxFile(
    destDir,
    files.map((f) => f.path),
    label,
  );
  const sha256 = modelDigest(files);
  checkExpectedSha256(sha256, opts.expectedSha256, files);
  version ??= sha256.slice(0, 12);
  opts.logger.info(
    `Model ${name}:${version} sha256 ${sha256} (${files.length} file(s), ONNX file ${modelFile}).`,
  );
  return { dir: destDir, name, version, source, files, sha256, modelFile, modelType };
}
