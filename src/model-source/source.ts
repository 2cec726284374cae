/**
 * What a model source is: a module that recognises its own `model` references and fetches them into a
 * private, empty directory (as ko's builders answer `IsSupportedReference`). Everything after the fetch
 * (integrity, the .onnx file, MLflow re-rooting, tokenizer detection) is shared, in ./index.ts.
 * Adding a source (an S3 URL, an OCI artifact) is one module implementing this plus its entry in
 * ./index.ts's SOURCES, and its inputs.
 */
import type { Logger } from '../util/log.js';
import type { RetryOptions } from '../util/retry.js';
import type { createProgress } from '../util/progress.js';
import type { GetIdToken } from './credentials.js';
import type { ExpectedFile } from './integrity.js';
import type { ModelReference } from './reference.js';
import type { AzureSettings } from './settings.js';

export interface FetchOptions {
  /** The Azure login and workspace; only Azure references need it. */
  azure?: AzureSettings;
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

/** What a source fetched: the files are in `opts.destDir`. */
export interface SourceResult {
  /** The model's name (from the source, else from the path or URL). */
  name: string;
  /** The source's version, if it has one (else the digest gives one). */
  version?: string;
  /** Canonical reference: azureml:// URI, the URL without its query, or the local path as given. */
  source: string;
  /** Azure ML model type (custom_model, mlflow_model, triton_model) when the source has one. */
  modelType?: string;
  /** Sizes and digests the source announced, checked against the bytes on disk. */
  expected: ExpectedFile[];
  /** How error messages name the model, e.g. `The model at ./m.onnx`. */
  label: string;
}

export interface SourceContext extends FetchOptions {
  /** A progress reporter for `label`'s download. */
  progress: (label: string) => (totalBytes: number, files: number) => ReturnType<typeof createProgress>;
}

export interface ModelSource<R extends ModelReference = ModelReference> {
  /** The reference kinds this source fetches. */
  readonly kinds: ReadonlyArray<R['kind']>;
  /**
   * The reference when `input` is one of this source's forms; undefined when it is not; a UserError when
   * it is this source's form but malformed (e.g. a plain http URL).
   */
  recognise(input: string): R | undefined;
  fetch(ref: R, ctx: SourceContext): Promise<SourceResult>;
}
