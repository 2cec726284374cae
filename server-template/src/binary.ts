/**
 * Triton's binary tensor data extension (Open Inference Protocol v2 over HTTP), as Triton's and KServe's
 * client libraries send by default: the body is the JSON request, then each binary tensor's raw bytes in
 * input order; the `Inference-Header-Content-Length` header gives the JSON's length and each binary input
 * carries `parameters.binary_data_size`. Elements are little-endian, row major, unpadded; BOOL is one
 * byte (0/1); BYTES is each element as a 4-byte little-endian length then its bytes.
 * Written by hand: no maintained JavaScript library implements this wire format. Pure functions only.
 */
import { type OrtType, TensorError, type TensorData, type WireTensor, v2Datatype } from './tensors.js';

/** The request or response header naming the JSON part's length in bytes. */
export const HEADER_LENGTH = 'inference-header-content-length';

/** A request body in the binary format: the parsed JSON header and the bytes after it. */
export class BinaryBody {
  constructor(
    readonly header: unknown,
    readonly data: Buffer,
  ) {}
}

const SIZES: Record<Exclude<OrtType, 'string'>, number> = {
  bool: 1,
  uint8: 1,
  int8: 1,
  uint16: 2,
  int16: 2,
  float16: 2,
  uint32: 4,
  int32: 4,
  float32: 4,
  uint64: 8,
  int64: 8,
  float64: 8,
};

const CTORS = {
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  float16: Uint16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  uint64: BigUint64Array,
  int64: BigInt64Array,
  float64: Float64Array,
} as const;

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Typed arrays use the host's byte order; every platform Node and onnxruntime-node ship for is
// little-endian, as the wire format is.

/**
 * Splits a binary-format body: `headerLength` (the header's raw value) must be an integer within the
 * body, and the JSON part must parse. Throws TensorError (a 400) otherwise.
 */
export function splitBinaryBody(body: Buffer, headerLength: string): BinaryBody {
  const text = headerLength.trim();
  const length = Number(text);
  if (!/^\d+$/.test(text) || length < 2 || length > body.length) {
    throw new TensorError(
      `Inference-Header-Content-Length: ${JSON.stringify(headerLength)} is not a length within the ${body.length}-byte body; fix: give the byte length of the JSON part`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(utf8.decode(body.subarray(0, length)));
  } catch (err) {
    throw new TensorError(
      `the first ${length} bytes (Inference-Header-Content-Length) are not a UTF-8 JSON object (${(err as Error).message})`,
    );
  }
  return new BinaryBody(header, body.subarray(length));
}

/** Decodes one tensor's binary data; its size must match the shape and datatype exactly. */
export function decodeBinaryTensor(type: OrtType, dims: number[], bytes: Buffer, name: string): TensorData {
  const count = dims.reduce((a, b) => a * b, 1);
  if (type === 'string') {
    const out: string[] = [];
    let at = 0;
    while (at < bytes.length && out.length < count) {
      if (at + 4 > bytes.length) break;
      const len = bytes.readUInt32LE(at);
      at += 4;
      if (at + len > bytes.length) {
        throw new TensorError(
          `input '${name}': BYTES element ${out.length} claims ${len} bytes but only ${bytes.length - at} remain in its binary_data_size`,
        );
      }
      try {
        out.push(utf8.decode(bytes.subarray(at, at + len)));
      } catch {
        throw new TensorError(`input '${name}': BYTES element ${out.length} is not valid UTF-8`);
      }
      at += len;
    }
    if (out.length !== count || at !== bytes.length) {
      throw new TensorError(
        `input '${name}': binary_data_size ${bytes.length} does not hold exactly ${count} length-prefixed BYTES elements for shape [${dims.join(',')}]`,
      );
    }
    return out;
  }
  const want = count * SIZES[type];
  if (bytes.length !== want) {
    throw new TensorError(
      `input '${name}': binary_data_size ${bytes.length} does not match shape [${dims.join(',')}] of ${v2Datatype(type)} (${want} bytes)`,
    );
  }
  // Copy: the slice may sit at an offset that is not a multiple of the element size.
  const copy = new Uint8Array(bytes);
  const data = new CTORS[type](copy.buffer, 0, count);
  if (type === 'bool' && data.some((v) => v !== 0 && v !== 1)) {
    throw new TensorError(`input '${name}': BOOL elements must be bytes 0 or 1`);
  }
  return data;
}

/** The binary form of a tensor (BYTES: each element length-prefixed). */
export function encodeBinaryTensor(t: WireTensor): Buffer {
  if (Array.isArray(t.data)) {
    const parts = (t.data as string[]).flatMap((s) => {
      const bytes = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(bytes.length);
      return [len, bytes];
    });
    return Buffer.concat(parts);
  }
  const view = t.data as Exclude<TensorData, string[]>;
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}
