/**
 * Open Inference Protocol v2 (KServe / Triton REST): server and model metadata, health, readiness and
 * infer with raw tensors named as the model's inputs, or one BYTES input of strings for text models.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { HttpError } from '../errors.js';
import type { InferenceService } from '../service.js';
import { BinaryBody, decodeBinaryTensor, encodeBinaryTensor, HEADER_LENGTH } from '../binary.js';
import type { TensorSpec, WireTensor } from '../tensors.js';
import { checkV2Tensor, decodeV2Tensor, TensorError, toJsonData, v2Datatype } from '../tensors.js';
import { error, json, modelParam, tensor, timing, versionParam } from '../openapi.js';
import { checkModel, isObject, parseTexts, timingHeaders } from './common.js';
import type { RouteContext, RouteModule } from './route.js';

export interface Health {
  live(): boolean;
  ready(): boolean;
}

/** The name of the one BYTES input that carries texts to a text model (as the metadata says). */
export const TEXT_INPUT = 'text';

export const SERVER_NAME = 'onnx-inference-server';
export const SERVER_VERSION = '0.1.0';

function describe(specs: TensorSpec[]): { name: string; datatype: string; shape: number[] }[] {
  return specs.map((s) => ({ name: s.name, datatype: v2Datatype(s.type), shape: s.shape }));
}

export function modelMetadata(service: InferenceService): Record<string, unknown> {
  const info = service.info;
  return {
    name: info.name,
    versions: [info.version],
    platform: 'onnxruntime_onnx',
    inputs: describe(info.inputs),
    outputs: describe(info.outputs),
    parameters: {
      text: info.text,
      ...(info.text ? { text_input: { name: TEXT_INPUT, datatype: 'BYTES', shape: [-1] } } : {}),
      ...(info.labels ? { labels: info.labels } : {}),
    },
  };
}

/**
 * The binary data of each input (binary tensor data extension), in input order: undefined for inputs
 * sent as JSON. The sizes must add up to exactly the bytes after the JSON header.
 */
function binarySlices(
  tensors: Record<string, unknown>[],
  binary: Buffer | undefined,
): (Buffer | undefined)[] {
  let offset = 0;
  const slices = tensors.map((t) => {
    const name = String(t.name);
    const size = isObject(t.parameters) ? t.parameters.binary_data_size : undefined;
    if (size === undefined) return undefined;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new HttpError(400, `input '${name}': parameters.binary_data_size must be a non-negative integer`);
    }
    if (binary === undefined) {
      throw new HttpError(
        400,
        `input '${name}' has parameters.binary_data_size but the request has no Inference-Header-Content-Length header; fix: send the JSON part's byte length in that header, followed by the binary data`,
      );
    }
    if (t.data !== undefined) {
      throw new HttpError(400, `input '${name}' has both data and parameters.binary_data_size; send one`);
    }
    const slice = binary.subarray(offset, offset + size);
    offset += size;
    return slice;
  });
  const received = binary?.length ?? 0;
  if (offset !== received) {
    throw new HttpError(
      400,
      `the inputs' binary_data_size add up to ${offset} bytes but ${received} bytes follow the JSON header (Inference-Header-Content-Length); fix: make them equal`,
    );
  }
  return slices;
}

function decodeInputs(
  service: InferenceService,
  body: Record<string, unknown>,
  maxTexts: number,
  binary: Buffer | undefined,
): { texts: string[]; feeds: undefined } | { texts: undefined; feeds: Record<string, WireTensor> } {
  const inputs = body.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new HttpError(400, 'inputs must be a non-empty array of tensors {name, shape, datatype, data}');
  }
  inputs.forEach((t, i) => {
    if (!isObject(t))
      throw new HttpError(400, `inputs[${i}] must be an object {name, shape, datatype, data}`);
    if (typeof t.name !== 'string') throw new HttpError(400, `inputs[${i}].name must be a string`);
  });
  const tensors = inputs as Record<string, unknown>[];
  const names = tensors.map((t) => t.name as string);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new HttpError(400, `input '${dup}' is given twice`);

  const allowed = [...(service.info.text ? [TEXT_INPUT] : []), ...service.info.inputs.map((s) => s.name)];
  const unexpected = names.find((n) => !allowed.includes(n));
  if (unexpected !== undefined) {
    throw new HttpError(
      400,
      `unexpected inference input '${unexpected}' for model '${service.info.name}', allowed inputs are: ${allowed.join(', ')}`,
    );
  }
  const slices = binarySlices(tensors, binary);
  const first = tensors[0] as Record<string, unknown>;
  const isText = (t: Record<string, unknown>): boolean =>
    t.name === TEXT_INPUT && typeof t.datatype === 'string' && t.datatype.toUpperCase() === 'BYTES';
  if (service.info.text && tensors.some(isText)) {
    if (tensors.length > 1) {
      throw new HttpError(
        400,
        `input '${TEXT_INPUT}' (BYTES) cannot be combined with tensor inputs; send it alone`,
      );
    }
    const shape = first.shape;
    if (!Array.isArray(shape) || shape.length !== 1 || typeof shape[0] !== 'number') {
      throw new HttpError(400, `input '${String(first.name)}': a BYTES text input has shape [n]`);
    }
    const slice = slices[0];
    const data =
      slice === undefined ? first.data : decodeBinaryTensor('string', shape as number[], slice, TEXT_INPUT);
    const texts = parseTexts(data, maxTexts, `input '${String(first.name)}' data`);
    if (texts.length !== shape[0]) {
      throw new HttpError(
        400,
        `input '${String(first.name)}': ${texts.length} strings do not match shape [${shape[0]}]`,
      );
    }
    return { texts, feeds: undefined };
  }
  const feeds: Record<string, WireTensor> = {};
  tensors.forEach((t, i) => {
    const spec = service.info.inputs.find((s) => s.name === t.name);
    if (spec === undefined) throw new HttpError(400, `input '${TEXT_INPUT}': datatype must be BYTES`);
    const slice = slices[i];
    if (slice === undefined) feeds[spec.name] = decodeV2Tensor(t, spec);
    else {
      const { type, dims } = checkV2Tensor(t, spec);
      feeds[spec.name] = { type, dims, data: decodeBinaryTensor(type, dims, slice, spec.name) };
    }
  });
  const missing = service.info.inputs.filter((s) => !(s.name in feeds)).map((s) => s.name);
  if (missing.length > 0) throw new HttpError(400, `missing input(s): ${missing.join(', ')}`);
  return { texts: undefined, feeds };
}

function optionalBool(value: unknown, what: string): boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean')
    throw new HttpError(400, `${what} must be true or false`);
  return value;
}

/**
 * The outputs to return and whether each goes as binary data: per-output `parameters.binary_data`,
 * else the request's `parameters.binary_data_output`, else JSON.
 */
function requestedOutputs(
  service: InferenceService,
  body: Record<string, unknown>,
): { name: string; binary: boolean }[] {
  const all =
    optionalBool(
      isObject(body.parameters) ? body.parameters.binary_data_output : undefined,
      'parameters.binary_data_output',
    ) ?? false;
  if (body.outputs === undefined) return service.info.outputs.map((o) => ({ name: o.name, binary: all }));
  if (!Array.isArray(body.outputs)) throw new HttpError(400, 'outputs must be an array of {name}');
  return body.outputs.map((o, i) => {
    if (!isObject(o) || typeof o.name !== 'string')
      throw new HttpError(400, `outputs[${i}] must be {"name": ...}`);
    if (!service.info.outputs.some((s) => s.name === o.name)) {
      const known = service.info.outputs.map((s) => s.name).join(', ');
      throw new HttpError(400, `unknown output '${o.name}'; the model gives: ${known}`);
    }
    const own = isObject(o.parameters)
      ? optionalBool(o.parameters.binary_data, `outputs[${i}].parameters.binary_data`)
      : undefined;
    return { name: o.name, binary: own ?? all };
  });
}

function register(app: FastifyInstance, { service, health, maxTexts }: RouteContext): void {
  const healthReply = (reply: FastifyReply, key: 'live' | 'ready', ok: boolean) => {
    reply.code(ok ? 200 : 503);
    return { [key]: ok };
  };
  app.get('/v2', async () => ({
    name: SERVER_NAME,
    version: SERVER_VERSION,
    extensions: ['binary_tensor_data'],
  }));
  app.get('/v2/health/live', async (_req, reply) => healthReply(reply, 'live', health.live()));
  app.get('/v2/health/ready', async (_req, reply) => healthReply(reply, 'ready', health.ready()));

  const metadata = async (req: { params: { name: string; version?: string } }) => {
    checkModel(service, req.params.name, req.params.version);
    return modelMetadata(service);
  };
  app.get<{ Params: { name: string } }>('/v2/models/:name', metadata);
  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version', metadata);

  const ready = async (req: { params: { name: string; version?: string } }, reply: FastifyReply) => {
    checkModel(service, req.params.name, req.params.version);
    const ok = health.ready();
    reply.code(ok ? 200 : 503);
    return { name: service.info.name, ready: ok };
  };
  app.get<{ Params: { name: string } }>('/v2/models/:name/ready', ready);
  app.get<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version/ready', ready);

  const infer = async (
    req: { params: { name: string; version?: string }; body: unknown },
    reply: FastifyReply,
  ) => {
    checkModel(service, req.params.name, req.params.version);
    const binary = req.body instanceof BinaryBody ? req.body.data : undefined;
    const body = req.body instanceof BinaryBody ? req.body.header : req.body;
    if (!isObject(body)) throw new HttpError(400, 'body must be a JSON object {"inputs": [...]}');
    if (body.id !== undefined && typeof body.id !== 'string') throw new HttpError(400, 'id must be a string');
    const wanted = requestedOutputs(service, body);
    let decoded;
    try {
      decoded = decodeInputs(service, body, maxTexts, binary);
    } catch (err) {
      if (err instanceof TensorError) throw new HttpError(400, err.message);
      throw err;
    }
    const { outputs, timing } =
      decoded.texts !== undefined
        ? await service.inferTexts(decoded.texts)
        : await service.inferTensors(decoded.feeds);
    timingHeaders(reply, timing);
    const chunks: Buffer[] = [];
    const header = {
      model_name: service.info.name,
      model_version: service.info.version,
      ...(body.id !== undefined ? { id: body.id } : {}),
      outputs: wanted
        .filter((o) => outputs[o.name] !== undefined)
        .map((o) => {
          const t = outputs[o.name] as WireTensor;
          const head = { name: o.name, shape: t.dims, datatype: v2Datatype(t.type) };
          if (!o.binary) return { ...head, data: toJsonData(t) };
          const bytes = encodeBinaryTensor(t);
          chunks.push(bytes);
          return { ...head, parameters: { binary_data_size: bytes.length } };
        }),
    };
    if (chunks.length === 0) return header;
    // As Triton answers: the JSON header, then each binary output's bytes in output order.
    const json = Buffer.from(JSON.stringify(header), 'utf8');
    reply.header(HEADER_LENGTH, String(json.length));
    reply.type('application/octet-stream');
    return reply.send(Buffer.concat([json, ...chunks]));
  };
  app.post<{ Params: { name: string } }>('/v2/models/:name/infer', infer);
  app.post<{ Params: { name: string; version: string } }>('/v2/models/:name/versions/:version/infer', infer);
}

const healthOp = (key: string) => ({
  get: {
    responses: {
      '200': json({ type: 'object', properties: { [key]: { type: 'boolean' } } }),
      '503': json({ type: 'object', properties: { [key]: { type: 'boolean' } } }, 'Not ' + key),
    },
  },
});
const inferOp = (params: object[]) => ({
  post: {
    summary: 'Open Inference Protocol v2 inference',
    parameters: params,
    requestBody: {
      content: {
        'application/json': {
          schema: {
            type: 'object',
            required: ['inputs'],
            properties: {
              id: { type: 'string' },
              inputs: { type: 'array', items: tensor },
              outputs: {
                type: 'array',
                items: { type: 'object', properties: { name: { type: 'string' } } },
              },
            },
          },
        },
      },
    },
    responses: {
      '200': {
        ...json({
          type: 'object',
          properties: {
            model_name: { type: 'string' },
            model_version: { type: 'string' },
            id: { type: 'string' },
            outputs: { type: 'array', items: tensor },
          },
        }),
        headers: timing,
      },
      '400': error,
      '404': error,
      '413': error,
      '500': error,
      '503': error,
    },
  },
});
const metadataOp = (params: object[]) => ({
  get: {
    summary: 'Model metadata (shape -1 = dynamic)',
    parameters: params,
    responses: { '200': json({ type: 'object' }), '404': error },
  },
});

export const v2Routes: RouteModule = {
  register,
  paths: () => ({
    '/v2': { get: { summary: 'Server metadata', responses: { '200': json({ type: 'object' }) } } },
    '/v2/health/live': healthOp('live'),
    '/v2/health/ready': healthOp('ready'),
    '/v2/models/{name}': metadataOp([modelParam]),
    '/v2/models/{name}/versions/{version}': metadataOp([modelParam, versionParam]),
    '/v2/models/{name}/ready': {
      get: {
        parameters: [modelParam],
        responses: {
          '200': json({ type: 'object' }),
          '503': json({ type: 'object' }, 'Not ready'),
          '404': error,
        },
      },
    },
    '/v2/models/{name}/versions/{version}/ready': {
      get: {
        parameters: [modelParam, versionParam],
        responses: {
          '200': json({ type: 'object' }),
          '503': json({ type: 'object' }, 'Not ready'),
          '404': error,
        },
      },
    },
    '/v2/models/{name}/infer': inferOp([modelParam]),
    '/v2/models/{name}/versions/{version}/infer': inferOp([modelParam, versionParam]),
  }),
  endpoints: (info) => [
    `POST /v2/models/${info.name}/infer`,
    `GET /v2/models/${info.name}`,
    'GET /v2/health/live',
    'GET /v2/health/ready',
  ],
};
