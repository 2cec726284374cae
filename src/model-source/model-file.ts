/**
 * Finds the .onnx file of a downloaded model: the only one, or for an MLflow model the ONNX flavor's
 * `data` in its MLmodel file. Errors name what was found.
 */
import { readFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { UserError } from '../errors.js';

const listed = (files: readonly string[], max = 15): string =>
  files.length === 0
    ? 'no files'
    : files.length > max
      ? `${files.slice(0, max).join(', ')} ... (${files.length} files)`
      : files.join(', ');

/** The ONNX flavor's model file named by an MLmodel file, relative to the model root. */
async function mlflowOnnxFile(dir: string, mlmodel: string): Promise<string | undefined> {
  let doc: unknown;
  try {
    doc = parseYaml(await readFile(join(dir, mlmodel), 'utf8'));
  } catch {
    return undefined;
  }
  const flavors = (doc as { flavors?: Record<string, { data?: unknown; model?: unknown }> } | null)?.flavors;
  const onnx = flavors?.onnx;
  const data =
    typeof onnx?.data === 'string' ? onnx.data : typeof onnx?.model === 'string' ? onnx.model : undefined;
  return data ? posix.normalize(posix.join(posix.dirname(mlmodel), data)) : undefined;
}

/**
 * Returns the relative path of the model's .onnx file among `files` (relative, '/'-separated): the
 * one an MLmodel file names (MLflow models), else the only .onnx file.
 */
export async function findOnnxFile(dir: string, files: readonly string[], label: string): Promise<string> {
  const onnx = files.filter((f) => /\.onnx$/i.test(f));
  const mlmodels = files.filter((f) => posix.basename(f) === 'MLmodel');
  for (const m of mlmodels) {
    const named = await mlflowOnnxFile(dir, m);
    if (named && onnx.includes(named)) return named;
  }
  if (onnx.length === 1) return onnx[0]!;
  if (onnx.length === 0) {
    throw new UserError(
      `${label} contains no .onnx file (found: ${listed(files)}).`,
      'Register or point at an ONNX model (a .onnx file, or a folder or MLflow model holding one).',
    );
  }
  throw new UserError(
    `${label} contains ${onnx.length} .onnx files (${listed(onnx)}) and no MLmodel file naming one.`,
    'Keep one .onnx file in the model folder (put external-data files next to it without the .onnx extension).',
  );
}
