/**
 * A local .onnx file or model folder: copied into the destination directory, so every source hands the
 * pipeline the same kind of private, complete directory. A folder is walked by hand (fs.cp would follow
 * every link): a symbolic link is copied as the file or folder it points at only when that resolves
 * inside the model folder; a link out of it (the checkout's .git/config with its token, ~/.docker/config.json)
 * is refused, and `.git` is never copied.
 */
import { copyFile, lstat, mkdir, readdir, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
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
      'Check the path (relative paths start at the working directory), or use an azureml: or https:// reference.',
    );
  }
  if (info.isFile()) {
    // The path the user named: a link to the model file is theirs to follow.
    await copyFile(abs, join(destDir, basename(abs)));
    return { singleFile: true };
  }
  if (info.isDirectory()) {
    const root = await realpath(abs);
    await copyFolder(root, root, '', destDir, path, new Set([root]));
    return { singleFile: false };
  }
  throw new UserError(
    `The model path '${path}' is neither a file nor a folder.`,
    'Point at a .onnx file or a folder.',
  );
}

const isInside = (root: string, p: string) =>
  p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/**
 * Copies the real folder `dir` (inside `root`; `relDir` as the user sees it) to `dest`. `open` holds
 * the real folders being copied above this one, so a link back to one of them is refused instead of
 * copied forever.
 */
async function copyFolder(
  root: string,
  dir: string,
  relDir: string,
  dest: string,
  shown: string,
  open: Set<string>,
): Promise<void> {
  await mkdir(dest, { recursive: true });
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === '.git') continue;
    const from = join(dir, entry.name);
    const to = join(dest, entry.name);
    const rel = relDir ? `${relDir}/${entry.name}` : entry.name;
    let real = from;
    if (entry.isSymbolicLink()) {
      try {
        real = await realpath(from);
      } catch {
        throw new UserError(
          `The model folder '${shown}' holds a broken symbolic link: ${rel}.`,
          'Remove the link or point it at a file inside the model folder.',
        );
      }
      if (!isInside(root, real)) {
        throw new UserError(
          `The model folder '${shown}' holds a symbolic link that leads out of it: ${rel}.`,
          'Copy the file into the model folder instead of linking to it (links out of the folder are never packaged).',
        );
      }
    }
    const info = await lstat(real);
    if (info.isDirectory()) {
      if (open.has(real)) {
        throw new UserError(
          `The model folder '${shown}' holds a symbolic link that loops back to a folder above it: ${rel}.`,
          'Remove the link.',
        );
      }
      open.add(real);
      await copyFolder(root, real, rel, to, shown, open);
      open.delete(real);
    } else if (info.isFile()) {
      await copyFile(real, to);
    } else {
      throw new UserError(
        `The model folder '${shown}' holds ${rel}, which is neither a file nor a folder.`,
        'Remove it from the model folder.',
      );
    }
  }
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
