/**
 * Model sources: turn the `model` input into a verified local copy of the model.
 *
 *   const ref = parseModelReference(input);            // UserError listing the accepted forms
 *   const model = await loadModel(ref, { azure, destDir, expectedSha256, logger, getIdToken, tokenizer });
 *
 * Sources, one module each (./source.ts says what one is): Azure ML workspace and registry models
 * (./azure-source.ts), https URLs (./url-source.ts), local files or folders (./local-source.ts).
 * After the source, shared for all: integrity (sizes and digests), the .onnx file, then (`loadModel`)
 * MLflow re-rooting, the tokenizer and class labels, and text-model detection.
 *
 * Name and version: Azure models keep theirs. A local path or URL takes its name from the file (minus
 * .onnx; the folder's name for a generic model.onnx) or folder, and its version is the first 12 hex
 * digits of the model digest (content-addressed: the same bytes always give the same version).
 *
 * Digest (`sha256`): a single-file model's sha256; for a folder, the sha256 of its sorted
 * `sha256sum` manifest (see integrity.ts).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { createProgress } from '../util/progress.js';
import { azureSource } from './azure-source.js';
import { writeClassLabels } from './class-labels.js';
import { checkExpectedSha256, digestFiles, modelDigest } from './integrity.js';
import { localSource } from './local-source.js';
import { findOnnxFile } from './model-file.js';
import { type ModelReference, notAccepted, URL_SCHEME } from './reference.js';
import type { FetchOptions, ModelSource, SourceContext } from './source.js';
import { fetchTokenizer, parseTokenizerRef, type TokenizerInfo } from './tokenizer.js';
import { urlSource } from './url-source.js';

export { ACCEPTED_FORMS, LATEST } from './reference.js';
export type {
  ModelReference,
  WorkspaceModelRef,
  RegistryModelRef,
  UrlModelRef,
  LocalModelRef,
} from './reference.js';
export type { AzureSettings } from './settings.js';
export type { GetIdToken } from './credentials.js';
export type { FetchOptions, ModelSource } from './source.js';

/** Every source, asked in this order which one a reference is (the first to recognise it wins). */
const SOURCES: ReadonlyArray<ModelSource> = [azureSource, urlSource, localSource];

function sourceOf(ref: ModelReference): ModelSource {
  const source = SOURCES.find((s) => s.kinds.includes(ref.kind));
  if (!source) throw new Error(`No model source fetches '${ref.kind}' references`);
  return source;
}

/** Parses the `model` input. Throws a UserError listing the accepted forms for anything no source reads. */
export function parseModelReference(input: string): ModelReference {
  const s = input.trim();
  if (!s) throw notAccepted(input, 'it is empty');
  for (const source of SOURCES) {
    const ref = source.recognise(s);
    if (ref) return ref;
  }
  if (URL_SCHEME.test(s)) throw notAccepted(s, 'this URL scheme is not supported');
  throw notAccepted(s, 'it matches none of the accepted forms');
}

export interface FetchedFile {
  /** Relative to the folder the model was fetched into, '/'-separated. */
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

/** Downloads (or copies) the model into `destDir` through its source, and verifies it. */
export async function fetchModel(ref: ModelReference, opts: FetchOptions): Promise<FetchedModel> {
  const destDir = resolve(opts.destDir);
  await mkdir(destDir, { recursive: true });
  if ((await readdir(destDir)).length > 0) {
    throw new Error(`fetchModel: destination ${destDir} is not empty`);
  }
  const ctx: SourceContext = {
    ...opts,
    destDir,
    progress: (label) => (totalBytes, files) =>
      createProgress({
        label,
        totalBytes,
        files,
        logger: opts.logger,
        intervalMs: opts.download?.progressIntervalMs,
      }),
  };
  const got = await sourceOf(ref).fetch(ref, ctx);

  const files = await digestFiles(destDir, got.expected);
  if (files.length === 0) {
    throw new UserError(`${got.label} has no files.`, 'Point at a .onnx file or a folder that holds one.');
  }
  const modelFile = await findOnnxFile(
    destDir,
    files.map((f) => f.path),
    got.label,
  );
  const sha256 = modelDigest(files);
  checkExpectedSha256(sha256, opts.expectedSha256, files);
  const version = got.version ?? sha256.slice(0, 12);
  opts.logger.info(
    `Model ${got.name}:${version} sha256 ${sha256} (${files.length} file(s), ONNX file ${modelFile}).`,
  );
  const { name, source, modelType } = got;
  return { dir: destDir, name, version, source, files, sha256, modelFile, modelType };
}

/** The model the pipeline packages: fetched, verified and ready to serve. */
export interface Model extends FetchedModel {
  /** The folder the server loads: the one holding the .onnx file (MLflow models nest it). */
  dir: string;
  /** The .onnx file's name inside `dir`. */
  modelFile: string;
  /** True when `dir` has a tokenizer.json (a text model: smoke-tested through /predict). */
  textModel: boolean;
  /** The tokenizer the `tokenizer` input added to the model folder. */
  tokenizer?: TokenizerInfo;
  /** The id2label the `class-labels` input wrote. */
  classLabels?: Record<string, string>;
  /** The model as fetched, when the shipped files differ from it (`external-weights`). */
  original?: { sha256: string; files: Array<{ path: string; size: number; sha256: string }> };
}

export interface LoadOptions extends FetchOptions {
  /** The `tokenizer` input (Hub repo id[@revision], https URL or local path), from `endpoint`. */
  tokenizer?: { ref: string; endpoint: string; token?: string };
  /** The `class-labels` input: class names by output index. */
  classLabels?: string[];
}

/** Fetches the model, then adds what the inputs ask for to the folder the server loads. */
export async function loadModel(ref: ModelReference, opts: LoadOptions): Promise<Model> {
  const m = await fetchModel(ref, opts);
  const dir = join(m.dir, dirname(m.modelFile));
  const { logger } = opts;
  const tokenizer = opts.tokenizer
    ? await fetchTokenizer(parseTokenizerRef(opts.tokenizer.ref, existsSync), {
        destDir: dir,
        endpoint: opts.tokenizer.endpoint,
        token: opts.tokenizer.token,
        logger,
      })
    : undefined;
  const labels = opts.classLabels ?? [];
  const classLabels = labels.length > 0 ? await writeClassLabels(dir, labels) : undefined;
  if (classLabels) logger.info(`Class labels by output index: ${labels.join(', ')}.`);
  return {
    ...m,
    dir,
    modelFile: basename(m.modelFile),
    textModel: existsSync(join(dir, 'tokenizer.json')),
    tokenizer,
    classLabels,
  };
}
