/**
 * Tensors as they cross the server: the Open Inference Protocol v2 JSON form (datatype, shape, flat or
 * nested data) and the plain typed-array form posted to inference workers. Pure functions only.
 */

export type OrtType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string'
  | 'float16';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

/** A tensor in the form posted to and from workers (typed arrays are transferable). */
export interface WireTensor {
  type: OrtType;
  dims: number[];
  data: TensorData;
}

/** Model input/output as described by the ONNX session; shape entries < 0 are dynamic. */
export interface TensorSpec {
  name: string;
  type: OrtType;
  /** -1 for a dynamic (symbolic or unknown) dimension. */
  shape: number[];
  /** The symbolic names of dynamic dims (or '' when unnamed), parallel to shape. */
  dimNames: string[];
}

const V2_TO_ORT: Record<string, OrtType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
  BYTES: 'string',
};
const ORT_TO_V2: Record<OrtType, string> = Object.fromEntries(
  Object.entries(V2_TO_ORT).map(([v2, ort]) => [ort, v2]),
) as Record<OrtType, string>;

export function v2Datatype(type: OrtType): string {
  return ORT_TO_V2[type];
}

export function ortType(v2: string): OrtType | undefined {
  return V2_TO_ORT[v2.toUpperCase()];
}

/** A client mistake in a tensor: becomes a 400 reply. */
export class TensorError extends Error {
  override name = 'TensorError';
}

function flatten(data: unknown, out: unknown[], depth: number): void {
  if (depth > 32) throw new TensorError('data is nested too deeply');
  if (Array.isArray(data)) for (const d of data) flatten(d, out, depth + 1);
  else out.push(data);
}

const INT_RANGES: Partial<Record<OrtType, [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
};

function typedArray(type: OrtType, values: unknown[], name: string): TensorData {
  const bad = (i: number, want: string): never => {
    throw new TensorError(`input '${name}': data[${i}] = ${JSON.stringify(values[i])} is not ${want}`);
  };
  switch (type) {
    case 'float32':
    case 'float64': {
      const arr = type === 'float32' ? new Float32Array(values.length) : new Float64Array(values.length);
      values.forEach((v, i) => {
        if (typeof v !== 'number') bad(i, 'a number');
        arr[i] = v as number;
      });
      return arr;
    }
    case 'bool': {
      const arr = new Uint8Array(values.length);
      values.forEach((v, i) => {
        if (typeof v === 'boolean') arr[i] = v ? 1 : 0;
        else if (v === 0 || v === 1) arr[i] = v;
        else bad(i, 'a boolean');
      });
      return arr;
    }
    case 'int64':
    case 'uint64': {
      const arr = type === 'int64' ? new BigInt64Array(values.length) : new BigUint64Array(values.length);
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(i, 'an integer');
        if (type === 'uint64' && (v as number) < 0) bad(i, 'a non-negative integer');
        arr[i] = BigInt(v as number);
      });
      return arr;
    }
    case 'string': {
      values.forEach((v, i) => {
        if (typeof v !== 'string') bad(i, 'a string');
      });
      return values as string[];
    }
    case 'float16':
      throw new TensorError(`input '${name}': FP16 tensors are not supported over JSON; send FP32`);
    default: {
      const [lo, hi] = INT_RANGES[type] as [number, number];
      const Ctor = {
        int8: Int8Array,
        uint8: Uint8Array,
        int16: Int16Array,
        uint16: Uint16Array,
        int32: Int32Array,
        uint32: Uint32Array,
      }[type];
      const arr = new Ctor(values.length);
      values.forEach((v, i) => {
        if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(i, `an ${type} integer`);
        arr[i] = v as number;
      });
      return arr;
    }
  }
}

export interface V2InputTensor {
  name?: unknown;
  shape?: unknown;
  datatype?: unknown;
  data?: unknown;
}

/**
 * Checks one v2 request tensor's datatype and shape against the model's spec: datatype must match, shape
 * must have the model's rank and fixed dims. Returns the type and dims.
 */
export function checkV2Tensor(input: V2InputTensor, spec: TensorSpec): { type: OrtType; dims: number[] } {
  const name = spec.name;
  if (typeof input.datatype !== 'string') throw new TensorError(`input '${name}': datatype is required`);
  const type = ortType(input.datatype);
  if (type === undefined) throw new TensorError(`input '${name}': unknown datatype '${input.datatype}'`);
  if (type !== spec.type) {
    throw new TensorError(
      `input '${name}': datatype ${input.datatype} does not match the model's ${v2Datatype(spec.type)}`,
    );
  }
  const shape = input.shape;
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
  ) {
    throw new TensorError(`input '${name}': shape must be an array of non-negative integers`);
  }
  const dims = shape as number[];
  if (spec.shape.length > 0 && dims.length !== spec.shape.length) {
    throw new TensorError(
      `input '${name}': shape [${dims.join(',')}] has rank ${dims.length}, the model expects [${spec.shape.join(',')}]`,
    );
  }
  spec.shape.forEach((want, i) => {
    if (want >= 0 && dims[i] !== want) {
      throw new TensorError(
        `input '${name}': shape [${dims.join(',')}] does not match the model's [${spec.shape.join(',')}]`,
      );
    }
  });
  return { type, dims };
}

/**
 * Decodes one v2 request tensor in JSON form against the model's spec (see checkV2Tensor); the data
 * count must equal the shape's product.
 */
export function decodeV2Tensor(input: V2InputTensor, spec: TensorSpec): WireTensor {
  const name = spec.name;
  const { type, dims } = checkV2Tensor(input, spec);
  if (input.data === undefined || input.data === null)
    throw new TensorError(`input '${name}': data is required`);
  const flat: unknown[] = [];
  flatten(input.data, flat, 0);
  const count = dims.reduce((a, b) => a * b, 1);
  if (flat.length !== count) {
    throw new TensorError(
      `input '${name}': ${flat.length} data values do not fill shape [${dims.join(',')}] (${count} values)`,
    );
  }
  return { type, dims, data: typedArray(type, flat, name) };
}

/** JSON-safe values of a tensor (int64 as numbers, NaN/Infinity as null, bool as true/false). */
export function toJsonData(t: WireTensor): unknown[] {
  const data = t.data;
  if (Array.isArray(data)) return data;
  if (t.type === 'bool') return Array.from(data as Uint8Array, (v) => v !== 0);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array)
    return Array.from(data, (v) => Number(v));
  return Array.from(data as ArrayLike<number>, (v) => (Number.isFinite(v) ? v : null));
}

/** Creates a zero-filled typed array (or empty strings) of a type. */
export function zeros(type: OrtType, count: number): TensorData {
  switch (type) {
    case 'float32':
      return new Float32Array(count);
    case 'float64':
      return new Float64Array(count);
    case 'int8':
      return new Int8Array(count);
    case 'uint8':
    case 'bool':
      return new Uint8Array(count);
    case 'int16':
      return new Int16Array(count);
    case 'uint16':
    case 'float16':
      return new Uint16Array(count);
    case 'int32':
      return new Int32Array(count);
    case 'uint32':
      return new Uint32Array(count);
    case 'int64':
      return new BigInt64Array(count);
    case 'uint64':
      return new BigUint64Array(count);
    case 'string':
      return new Array<string>(count).fill('');
  }
}

/** Rows [start, end) of a tensor along its first dimension. */
export function sliceRows(t: WireTensor, start: number, end: number): WireTensor {
  const rowSize = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const data = t.data.slice(start * rowSize, end * rowSize) as TensorData;
  return { type: t.type, dims: [end - start, ...t.dims.slice(1)], data };
}

/** Concatenates tensors of the same type and trailing dims along the first dimension. */
export function concatRows(parts: WireTensor[]): WireTensor {
  const first = parts[0];
  if (first === undefined) throw new Error('concatRows of nothing');
  if (parts.length === 1) return first;
  const trailing = first.dims.slice(1).join('x');
  if (parts.some((p) => p.dims.slice(1).join('x') !== trailing)) {
    throw new Error(
      'rows have different shapes (token-level outputs of texts of different lengths); send one text per request',
    );
  }
  const rows = parts.reduce((n, p) => n + (p.dims[0] ?? 0), 0);
  const total = parts.reduce((n, p) => n + p.data.length, 0);
  const out = zeros(first.type, total);
  let offset = 0;
  for (const p of parts) {
    if (Array.isArray(out)) (p.data as string[]).forEach((s, i) => (out[offset + i] = s));
    else (out as Float32Array).set(p.data as Float32Array, offset);
    offset += p.data.length;
  }
  return { type: first.type, dims: [rows, ...first.dims.slice(1)], data: out };
}
