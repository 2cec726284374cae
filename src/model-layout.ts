/**
 * Packaging-time layout of the model for a fast, lean start: the weights move out of the .onnx file
 * into `<model>.onnx.data` next to it (ONNX external data, aligned as onnxruntime writes it), and the
 * graph itself is left as it is.
 *
 * Why (bench/results/scale.json): onnxruntime parses a self-contained .onnx as one protobuf message,
 * copying every weight; with external data it maps the weights file instead. On a 500 MB encoder that
 * cut one session's creation about 3x and its RSS by about 40%, where optimizing the graph once at
 * packaging time ('extended' or 'all') or the ORT format saved nothing measurable. The rewrite is
 * onnxruntime's own serializer (`optimizedModelFilePath` at graphOptimizationLevel 'disabled', so no
 * fusion or hardware-specific layout lands in the file: one file serves amd64 and arm64), and it also
 * lifts the 2 GB protobuf limit on what the image can ship.
 *
 * Models that already keep their weights in external files are shipped as they are (their data files
 * are already mapped, and rewriting them would leave the old files behind).
 */
import { createRequire } from 'node:module';
import { mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from './errors.js';
import type { Logger } from './util/log.js';

type Ort = typeof import('onnxruntime-node');

/** The file the weights move to, next to the model file. */
export const weightsFileName = (modelFile: string): string => `${modelFile}.data`;

export type LayoutOutcome =
  { changed: true; modelFile: string; weightsFile: string } | { changed: false; reason: string };

/**
 * Rewrites `dir/modelFile` in place with its weights in `dir/<modelFile>.data`, using the onnxruntime-node
 * of the staged runtime in `runtimeDir` (one this machine can load).
 */
export async function externalizeWeights(opts: {
  runtimeDir: string;
  dir: string;
  modelFile: string;
  logger: Logger;
}): Promise<LayoutOutcome> {
  const { dir, modelFile } = opts;
  const source = join(dir, modelFile);
  const weightsFile = weightsFileName(modelFile);
  if (await exists(join(dir, weightsFile)))
    return { changed: false, reason: `${weightsFile} already exists next to it` };
  if (await usesExternalData(source))
    return { changed: false, reason: 'its weights are already in external data files' };

  process.env['ORT_DISABLE_TELEMETRY'] ??= '1';
  const ort = createRequire(join(opts.runtimeDir, 'index.js'))('onnxruntime-node') as Ort;
  // A sibling directory on the same filesystem, so the results rename into place.
  const temp = await mkdtemp(join(dir, '.layout-'));
  try {
    try {
      const session = await ort.InferenceSession.create(source, {
        graphOptimizationLevel: 'disabled',
        optimizedModelFilePath: join(temp, modelFile),
        extra: {
          session: {
            optimized_model_external_initializers_file_name: weightsFile,
            optimized_model_external_initializers_min_size_in_bytes: '1024',
          },
        },
      });
      await session.release();
    } catch (e) {
      throw new UserError(
        `Moving the weights of ${modelFile} into ${weightsFile} failed: onnxruntime: ${(e as Error).message.split('\n')[0]}`,
        "set the input 'external-weights: false' to ship the model file as it is.",
        { cause: e },
      );
    }
    const written = join(temp, weightsFile);
    if (!(await exists(written))) {
      // No initializer reached the size threshold (a tiny model): nothing to gain.
      return { changed: false, reason: 'it has no weights large enough to move' };
    }
    await rename(written, join(dir, weightsFile));
    await rename(join(temp, modelFile), source);
    return { changed: true, modelFile, weightsFile };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * True when a graph initializer of the .onnx file says its data is EXTERNAL (TensorProto field 14 = 1),
 * or when the file cannot be walked. A protobuf wire walker over file reads, written by hand because
 * the ONNX libraries for JavaScript parse the whole message into memory (up to 2 GB of weights) to
 * answer this; here only field headers are read.
 */
export async function usesExternalData(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(20);
    /** Reads a varint at `pos`: [value, position after it]. */
    const varint = async (pos: number): Promise<[number, number]> => {
      const { bytesRead } = await fh.read(head, 0, 10, pos);
      let value = 0;
      for (let i = 0; i < bytesRead; i++) {
        const b = head[i] as number;
        value += (b & 0x7f) * 2 ** (7 * i);
        if (b < 0x80) return [value, pos + i + 1];
      }
      throw new Error('bad varint');
    };
    /** Fields of the message in [start, end): number, wire type, value (varint) or payload span. */
    async function* fields(start: number, end: number) {
      let pos = start;
      while (pos < end) {
        const [key, p] = await varint(pos);
        const field = Math.floor(key / 8);
        const wire = key % 8;
        if (wire === 0) {
          const [value, q] = await varint(p);
          yield { field, wire, value, start: p, end: q };
          pos = q;
        } else if (wire === 2) {
          const [len, q] = await varint(p);
          yield { field, wire, value: len, start: q, end: q + len };
          pos = q + len;
        } else if (wire === 1 || wire === 5) {
          pos = p + (wire === 1 ? 8 : 4);
        } else {
          throw new Error(`wire type ${wire}`);
        }
        if (pos > end) throw new Error('field past the end');
      }
    }
    for await (const m of fields(0, size)) {
      if (m.field !== 7 || m.wire !== 2) continue; // ModelProto.graph
      for await (const g of fields(m.start, m.end)) {
        if (g.field !== 5 || g.wire !== 2) continue; // GraphProto.initializer
        for await (const t of fields(g.start, g.end))
          if (t.field === 14 && t.wire === 0 && t.value === 1) return true; // data_location EXTERNAL
      }
    }
    return false;
  } catch {
    return true; // not walkable: leave the model as it is
  } finally {
    await fh.close();
  }
}
