/**
 * A local .onnx file or model folder: copied into the destination directory (symlinks followed), so
 * every source hands the pipeline the same kind of private, complete directory.
 */
import { cp, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { UserError } from '../errors.js';

/** Copies the model; returns whether it was a single file. */
export async function copyLocalModel(path: string, destDir: string): Promise<{ singleFile: boolean }> {
  const abs = resolve(path);
  let info;
  try {
    info = await stat(abs);
  } catch {
    throw new UserError(
      `The model path '${path}' does not exist.`,
      'check the path (relative paths start at the working directory), or use an azureml: or https:// reference.',
    );
  }
  if (info.isFile()) {
    await cp(abs, join(destDir, basename(abs)), { dereference: true });
    return { singleFile: true };
  }
  if (info.isDirectory()) {
    await cp(abs, destDir, { recursive: true, dereference: true });
    return { singleFile: false };
  }
  throw new UserError(
    `The model path '${path}' is neither a file nor a folder.`,
    'point at a .onnx file or a folder.',
  );
}

/**
 * A model name from a path or URL: the file name without .onnx (the folder's name when the file is the
 * generic model.onnx), or the folder's name; reduced to letters, digits, `.`, `_` and `-`.
 */
export function nameFromPath(pathOrUrlPath: string, isFile: boolean): string {
  const segs = pathOrUrlPath.split(/[\\/]+/).filter(Boolean);
  let name = segs.pop() ?? 'model';
  if (isFile) {
    name = name.replace(/\.onnx$/i, '');
    if (name.toLowerCase() === 'model' && segs.length > 0) name = segs.pop()!;
  }
  const clean = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return clean || 'model';
}
