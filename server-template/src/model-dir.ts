/**
 * The model directory: which .onnx file to serve and the optional Hugging Face side files
 * (tokenizer.json, tokenizer_config.json, config.json). Every problem becomes a StartupError whose
 * message names the file and the fix (printed as the one startup error line).
 */
import { constants } from 'node:fs';
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { basename, isAbsolute, join, resolve } from 'node:path';

export class StartupError extends Error {
  override name = 'StartupError';
}

export interface ModelConfigJson {
  id2label?: Record<string, string>;
  problem_type?: string;
  _name_or_path?: string;
  max_position_embeddings?: number;
  model_type?: string;
}

export interface ModelFiles {
  dir: string;
  onnxPath: string;
  /** Parsed tokenizer.json, when present. */
  tokenizerJson: Record<string, unknown> | undefined;
  tokenizerConfig: Record<string, unknown>;
  config: ModelConfigJson;
}

async function readJson(path: string, what: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StartupError(
      `cannot read ${path}: ${(err as Error).message}; fix: make ${what} readable by the server's user`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StartupError(
      `${path} is not valid JSON (${(err as Error).message}); fix: replace ${what} with the file saved by the model's training code`,
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StartupError(`${path} must hold a JSON object; fix: replace ${what} with a valid one`);
  }
  return value as Record<string, unknown>;
}

async function findOnnx(dir: string, modelFile: string | undefined): Promise<string> {
  if (modelFile !== undefined) {
    const path = isAbsolute(modelFile) ? modelFile : join(dir, modelFile);
    try {
      if (!(await stat(path)).isFile()) throw new Error('not a file');
    } catch {
      throw new StartupError(
        `MODEL_FILE ${path} does not exist; fix: set MODEL_FILE to an .onnx file inside MODEL_DIR ${dir}`,
      );
    }
    return path;
  }
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : code;
    throw new StartupError(`MODEL_DIR ${dir} ${why}; fix: set MODEL_DIR to the directory holding model.onnx`);
  }
  const onnx = entries.filter((e) => e.toLowerCase().endsWith('.onnx')).sort();
  if (onnx.length === 0) {
    throw new StartupError(
      `MODEL_DIR ${dir} contains no .onnx file; fix: put the model's .onnx file there or set MODEL_FILE`,
    );
  }
  if (onnx.length > 1) {
    throw new StartupError(
      `MODEL_DIR ${dir} contains several .onnx files (${onnx.join(', ')}); fix: keep one or set MODEL_FILE to the one to serve`,
    );
  }
  return join(dir, onnx[0] as string);
}

/** Locates and reads the model files; throws StartupError naming the file and the fix. */
export async function readModelDir(modelDir: string, modelFile: string | undefined): Promise<ModelFiles> {
  const dir = resolve(modelDir);
  const onnxPath = await findOnnx(dir, modelFile);
  try {
    await access(onnxPath, constants.R_OK);
  } catch {
    throw new StartupError(
      `cannot read ${onnxPath}; fix: make the model file readable by the server's user (chmod a+r)`,
    );
  }
  const tokenizerJson = await readJson(join(dir, 'tokenizer.json'), 'tokenizer.json');
  if (tokenizerJson !== undefined && typeof tokenizerJson.model !== 'object') {
    throw new StartupError(
      `${join(dir, 'tokenizer.json')} has no "model" section; fix: save it with a Hugging Face fast tokenizer (tokenizer.save_pretrained)`,
    );
  }
  const tokenizerConfig = (await readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json')) ?? {};
  const config = ((await readJson(join(dir, 'config.json'), 'config.json')) ?? {}) as ModelConfigJson;
  if (config.id2label !== undefined && (typeof config.id2label !== 'object' || config.id2label === null)) {
    throw new StartupError(
      `${join(dir, 'config.json')} has an id2label that is not an object; fix: use {"0": "LABEL", ...}`,
    );
  }
  return { dir, onnxPath, tokenizerJson, tokenizerConfig, config };
}

/** MODEL_NAME, else config.json's _name_or_path last segment, else the directory's name. */
export function defaultModelName(files: ModelFiles): string {
  const fromConfig = files.config._name_or_path?.split('/').filter(Boolean).pop();
  const candidate = fromConfig ?? basename(files.dir);
  const cleaned = candidate.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned === '' ? 'model' : cleaned;
}
