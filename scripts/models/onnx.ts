/**
 * A small ONNX writer: the subset of onnx.proto (IR version 8+) needed to build inference graphs,
 * encoded with protobufjs, plus a graph builder that names intermediate values deterministically.
 *
 * The schema is written here rather than vendored because only these messages are needed; every field
 * number matches onnx/onnx.proto exactly (unused fields are simply left out, which protobuf allows).
 * Same inputs give the same bytes: no timestamps, and protobufjs writes fields in field-number order.
 */
import protobuf from 'protobufjs';

const ONNX_PROTO_SUBSET = `
syntax = "proto3";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  string name = 1;
  string doc_string = 13;
  AttributeType type = 20;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
}

message ValueInfoProto {
  string name = 1;
  TypeProto type = 2;
  string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  string domain = 7;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
}

message StringStringEntryProto {
  string key = 1;
  string value = 2;
}

message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6; INT64 = 7;
    STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13;
  }
  repeated int64 dims = 1;
  int32 data_type = 2;
  repeated float float_data = 4;
  repeated int32 int32_data = 5;
  repeated bytes string_data = 6;
  repeated int64 int64_data = 7;
  string name = 8;
  string doc_string = 12;
  bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    int32 elem_type = 1;
    TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  string denotation = 6;
}

message OperatorSetIdProto {
  string domain = 1;
  int64 version = 2;
}
`;

const root = protobuf.parse(ONNX_PROTO_SUBSET, { keepCase: true }).root;
const ModelProtoType = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values used by the generators. */
export const DataType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
} as const;
export type ElemType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** ONNX IR version 8 (onnx 1.10+) and the default opset: 17 is the first with LayerNormalization. */
export const IR_VERSION = 8;
export const OPSET = 17;

export interface Tensor {
  dims: number[];
  data_type: ElemType;
  raw_data: Uint8Array;
}

/** A float32 tensor; raw_data is little-endian as ONNX requires, whatever the host's byte order. */
export function floatTensor(dims: number[], values: ArrayLike<number>): Tensor {
  checkCount(dims, values.length);
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] as number, true);
  return { dims, data_type: DataType.FLOAT, raw_data: bytes };
}

/** An int64 tensor (little-endian raw_data). */
export function int64Tensor(dims: number[], values: ArrayLike<number>): Tensor {
  checkCount(dims, values.length);
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i] as number), true);
  return { dims, data_type: DataType.INT64, raw_data: bytes };
}

function checkCount(dims: number[], count: number): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (expected !== count)
    throw new Error(`tensor of shape [${dims.join(', ')}] needs ${expected} values, got ${count}`);
}

/** A typed attribute value; ONNX distinguishes int from float attributes, so the caller says which. */
export type Attr =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string }
  | { tensor: Tensor };

export const attr = {
  int: (v: number): Attr => ({ int: v }),
  float: (v: number): Attr => ({ float: v }),
  ints: (v: number[]): Attr => ({ ints: v }),
  floats: (v: number[]): Attr => ({ floats: v }),
  string: (v: string): Attr => ({ string: v }),
  tensor: (v: Tensor): Attr => ({ tensor: v }),
};

function encodeAttr(name: string, a: Attr): Record<string, unknown> {
  if ('int' in a) return { name, type: AttributeType.INT, i: a.int };
  if ('float' in a) return { name, type: AttributeType.FLOAT, f: a.float };
  if ('ints' in a) return { name, type: AttributeType.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: AttributeType.FLOATS, floats: a.floats };
  if ('string' in a) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.string) };
  return { name, type: AttributeType.TENSOR, t: a.tensor };
}

/** A graph input/output dimension: a fixed size or a named symbolic dimension such as "batch". */
export type Dim = number | string;

function valueInfo(name: string, elemType: ElemType, dims: Dim[]): Record<string, unknown> {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

export interface ModelInfo {
  /** Becomes GraphProto.name. */
  graphName: string;
  /** ModelProto.doc_string: what the model is and how it was made. */
  doc: string;
  opset?: number;
}

/**
 * Builds one graph. `op` appends a node and returns the name of its (first) output, so graphs read
 * like expressions: `g.op('Add', [g.op('MatMul', [x, w]), b])`. Names are `<prefix>/<op>_<n>`, in
 * creation order, hence deterministic.
 */
export class GraphBuilder {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private readonly inputs: Record<string, unknown>[] = [];
  private readonly outputs: Record<string, unknown>[] = [];
  private readonly names = new Set<string>();
  private counter = 0;
  private scope = '';

  /** Declares a graph input and returns its name. */
  input(name: string, elemType: ElemType, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares `value` (a node output) as graph output `name`, renaming it through Identity if needed. */
  output(value: string, name: string, elemType: ElemType, dims: Dim[]): void {
    const produced = value === name ? value : this.op('Identity', [value], {}, name);
    this.outputs.push(valueInfo(produced, elemType, dims));
  }

  /** Adds a constant (an initializer) and returns its name. */
  init(name: string, tensor: Tensor): string {
    const full = this.scoped(name);
    this.claim(full);
    this.initializers.push({ name: full, ...tensor });
    return full;
  }

  /** Shorthands for small constants. */
  float(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.init(name, floatTensor(dims, values));
  }
  int64(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.init(name, int64Tensor(dims, values));
  }

  /** Runs `build` with names prefixed by `scope/` (e.g. "layer.0/attention"), then restores the scope. */
  within<T>(scope: string, build: () => T): T {
    const saved = this.scope;
    this.scope = saved ? `${saved}/${scope}` : scope;
    try {
      return build();
    } finally {
      this.scope = saved;
    }
  }

  /** Appends a node; returns its output name. */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputName?: string): string {
    const n = this.counter++;
    const output = outputName ?? this.scoped(`${opType}_${n}`);
    this.claim(output);
    this.nodes.push({
      input: inputs,
      output: [output],
      name: this.scoped(`${opType}_${n}_node`),
      op_type: opType,
      attribute: Object.entries(attrs).map(([k, v]) => encodeAttr(k, v)),
    });
    return output;
  }

  /** Encodes the whole model: ModelProto bytes ready to write as model.onnx. */
  toBytes(info: ModelInfo): Uint8Array {
    const model = {
      ir_version: IR_VERSION,
      opset_import: [{ domain: '', version: info.opset ?? OPSET }],
      producer_name: 'package-onnx-model/scripts/models',
      producer_version: '1',
      doc_string: info.doc,
      graph: {
        node: this.nodes,
        name: info.graphName,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    };
    const err = ModelProtoType.verify(model);
    if (err) throw new Error(`invalid ONNX model: ${err}`);
    return ModelProtoType.encode(model).finish();
  }

  private scoped(name: string): string {
    return this.scope ? `${this.scope}/${name}` : name;
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`duplicate value name in graph: ${name}`);
    this.names.add(name);
  }
}

/** Decodes model bytes back to a plain object (tests use it to inspect what was written). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  return ModelProtoType.toObject(ModelProtoType.decode(bytes), { longs: Number, defaults: false });
}
