/**
 * Clients users already have: Triton's binary tensor data extension (encoded exactly as tritonclient's
 * HTTP client does) for every datatype, and body limits that fit image tensors with a bound on the
 * bytes held by queued requests.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fixtureModels } from '../fixtures/models.js';
import { request, runToExit, startServer, type RunningServer } from './helpers.js';

let echo: RunningServer;
let image: RunningServer;
let small: RunningServer;
let imageDir: string;

beforeAll(async () => {
  const models = await fixtureModels();
  imageDir = models.image;
  [echo, image, small] = await Promise.all([
    startServer(models.echo),
    startServer(imageDir),
    startServer(imageDir, { MAX_TENSOR_BODY_BYTES: '2000000', MAX_QUEUED_BYTES: '3000000' }),
  ]);
});

afterAll(async () => {
  await Promise.all([echo?.stop(), image?.stop(), small?.stop()]);
});

type Dtype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64';
type Ftype = 'FP16' | 'FP32' | 'FP64';

/** numpy's tobytes() of [1, 1, 1, 3] tensors per datatype, little-endian (as tritonclient sends). */
function numpyBytes(): Record<string, Buffer> {
  const le = (size: number, write: (b: Buffer, v: number, at: number) => void, values: number[]) => {
    const b = Buffer.alloc(size * values.length);
    values.forEach((v, i) => write(b, v, i * size));
    return b;
  };
  const big = (signed: boolean, values: bigint[]) => {
    const b = Buffer.alloc(8 * values.length);
    values.forEach((v, i) => (signed ? b.writeBigInt64LE(v, i * 8) : b.writeBigUInt64LE(v, i * 8)));
    return b;
  };
  const ints: Record<Dtype, Buffer> = {
    BOOL: Buffer.from([1, 0, 1]),
    UINT8: Buffer.from([0, 128, 255]),
    UINT16: le(2, (b, v, at) => b.writeUInt16LE(v, at), [0, 40000, 65535]),
    UINT32: le(4, (b, v, at) => b.writeUInt32LE(v, at), [0, 3000000000, 4294967295]),
    UINT64: big(false, [0n, 1n << 40n, (1n << 64n) - 1n]),
    INT8: le(1, (b, v, at) => b.writeInt8(v, at), [-128, 0, 127]),
    INT16: le(2, (b, v, at) => b.writeInt16LE(v, at), [-32768, 1, 32767]),
    INT32: le(4, (b, v, at) => b.writeInt32LE(v, at), [-2147483648, 7, 2147483647]),
    INT64: big(true, [-(1n << 62n), 3n, 9007199254740993n]),
  };
  const floats: Record<Ftype, Buffer> = {
    // numpy float16 1.0, -2.0, 65504 (the largest finite half).
    FP16: Buffer.from([0x00, 0x3c, 0x00, 0xc0, 0xff, 0x7b]),
    FP32: le(4, (b, v, at) => b.writeFloatLE(v, at), [0.5, -1.25, 3.4e38]),
    FP64: le(8, (b, v, at) => b.writeDoubleLE(v, at), [Math.PI, -0, 1e-300]),
  };
  // tritonclient's serialize_byte_tensor: each element as a 4-byte little-endian length, then its bytes.
  const bytes = Buffer.concat(
    ['hi', 'été', ''].flatMap((s) => {
      const data = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32LE(data.length);
      return [len, data];
    }),
  );
  return { ...ints, ...floats, BYTES: bytes };
}

/**
 * tritonclient.http's _get_inference_request with set_data_from_numpy(binary_data=True): the JSON
 * request (binary_data_output when no outputs are named), then each input's bytes in input order, and
 * Inference-Header-Content-Length naming the JSON's length. No Content-Type, as tritonclient sends none.
 */
function tritonRequest(
  tensors: Record<string, Buffer>,
  shape: number[],
  outputs?: object[],
): { body: Buffer; headers: Record<string, string> } {
  const inputs = Object.entries(tensors).map(([dtype, data]) => ({
    name: `in_${dtype.toLowerCase()}`,
    shape,
    datatype: dtype,
    parameters: { binary_data_size: data.length },
  }));
  const json = JSON.stringify(
    outputs === undefined ? { inputs, parameters: { binary_data_output: true } } : { inputs, outputs },
  );
  const header = Buffer.from(json, 'utf8');
  return {
    body: Buffer.concat([header, ...Object.values(tensors)]),
    headers: { 'inference-header-content-length': String(header.length) },
  };
}

async function post(url: string, body: Buffer, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', body, headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** tritonclient's InferResult: the JSON header, then each binary output's bytes in output order. */
function parseTritonResponse(headers: Headers, body: Buffer) {
  const length = Number(headers.get('inference-header-content-length'));
  const header = JSON.parse(body.subarray(0, length).toString('utf8')) as {
    outputs: {
      name: string;
      shape: number[];
      datatype: string;
      data?: unknown[];
      parameters?: { binary_data_size: number };
    }[];
  };
  const binary: Record<string, Buffer> = {};
  let at = length;
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size;
    if (size === undefined) continue;
    binary[o.name] = body.subarray(at, at + size);
    at += size;
  }
  expect(at).toBe(body.length);
  return { header, binary };
}

const inferUrl = (s: RunningServer) => `${s.url}/v2/models/${s === echo ? 'echo' : 'image'}/infer`;

describe('binary tensor data extension', () => {
  it('lists binary_tensor_data in the server metadata extensions', async () => {
    const res = await request(`${echo.url}/v2`);
    expect(res.status).toBe(200);
    expect((res.body as { extensions: string[] }).extensions).toContain('binary_tensor_data');
  });

  it('takes and returns every datatype as binary data, encoded as tritonclient does', async () => {
    const tensors = numpyBytes();
    const { body, headers } = tritonRequest(tensors, [1, 1, 1, 3]);
    const res = await post(inferUrl(echo), body, headers);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const { header, binary } = parseTritonResponse(res.headers, res.body);
    expect(header.outputs).toHaveLength(13);
    for (const [dtype, bytes] of Object.entries(tensors)) {
      const name = `out_${dtype.toLowerCase()}`;
      const out = header.outputs.find((o) => o.name === name);
      expect(out).toMatchObject({
        datatype: dtype,
        shape: [1, 1, 1, 3],
        parameters: { binary_data_size: bytes.length },
      });
      expect(out?.data).toBeUndefined();
      expect(binary[name]?.equals(bytes)).toBe(true);
    }
  });

  it('returns JSON or binary per output as parameters.binary_data asks, binary inputs either way', async () => {
    const tensors = numpyBytes();
    const { body, headers } = tritonRequest(
      tensors,
      [1, 1, 1, 3],
      [
        { name: 'out_int32', parameters: { binary_data: false } },
        { name: 'out_fp64', parameters: { binary_data: true } },
      ],
    );
    const res = await post(inferUrl(echo), body, headers);
    expect(res.status).toBe(200);
    const { header, binary } = parseTritonResponse(res.headers, res.body);
    expect(header.outputs.map((o) => o.name)).toEqual(['out_int32', 'out_fp64']);
    expect(header.outputs[0]?.data).toEqual([-2147483648, 7, 2147483647]);
    expect(binary.out_fp64?.equals(tensors.FP64 as Buffer)).toBe(true);
  });

  it('answers a binary request that asks for JSON outputs with plain JSON', async () => {
    const { body, headers } = tritonRequest(numpyBytes(), [1, 1, 1, 3], [{ name: 'out_bytes' }]);
    const res = await post(inferUrl(echo), body, headers);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('inference-header-content-length')).toBeNull();
    expect(JSON.parse(res.body.toString()).outputs[0].data).toEqual(['hi', 'été', '']);
  });

  const mismatches: [string, (r: { body: Buffer; headers: Record<string, string> }) => void, RegExp][] = [
    [
      'header length beyond the body',
      (r) => (r.headers['inference-header-content-length'] = String(r.body.length + 1)),
      /Inference-Header-Content-Length/,
    ],
    [
      'header length not a number',
      (r) => (r.headers['inference-header-content-length'] = '12abc'),
      /not a length/,
    ],
    [
      'one byte more than the sizes add up to',
      (r) => (r.body = Buffer.concat([r.body, Buffer.from([0])])),
      /add up to/,
    ],
    [
      'one byte fewer than the sizes add up to',
      (r) => (r.body = r.body.subarray(0, r.body.length - 1)),
      /add up to/,
    ],
  ];
  it.each(mismatches)('400 when %s', async (_name, spoil, message) => {
    const r = tritonRequest(numpyBytes(), [1, 1, 1, 3]);
    spoil(r);
    const res = await post(inferUrl(echo), r.body, r.headers);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error).toMatch(message);
  });

  it('400 when a binary_data_size does not match shape x datatype, or BYTES lengths overrun', async () => {
    const wrongSize = numpyBytes();
    // 3 INT32 values announced with a [1, 1, 1, 2] shape: 12 bytes where 8 are due.
    const { body, headers } = tritonRequest({ INT32: wrongSize.INT32 as Buffer }, [1, 1, 1, 2]);
    const res = await post(inferUrl(echo), body, headers);
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error).toMatch(
      /in_int32.*binary_data_size 12 does not match shape \[1,1,1,2\] of INT32 \(8 bytes\)/,
    );

    const overrun = Buffer.from([0xff, 0, 0, 0, 0x61]);
    const bad = tritonRequest({ BYTES: overrun }, [1, 1, 1, 1]);
    const res2 = await post(inferUrl(echo), bad.body, bad.headers);
    expect(res2.status).toBe(400);
    expect(JSON.parse(res2.body.toString()).error).toMatch(/in_bytes.*BYTES element 0 claims 255 bytes/);
  });

  it('400 when an input has binary_data_size but no Inference-Header-Content-Length', async () => {
    const { body } = tritonRequest(numpyBytes(), [1, 1, 1, 3]);
    const res = await post(inferUrl(echo), body, { 'content-type': 'application/octet-stream' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body.toString()).error).toMatch(/needs the Inference-Header-Content-Length header/);
  });
});

const PIXELS = 3 * 48 * 192;
/** Pixel i of image n: deterministic values with the many digits real FP32 data has in JSON. */
const pixel = (n: number, i: number): number => (((i * 7919 + n * 104729) % 10007) / 10007) * (n + 1);

/** `count` images of 3x48x192 FP32 as a JSON v2 request to the image model. */
function imagesRequest(count: number): string {
  const data = Array.from({ length: count * PIXELS }, (_, k) => pixel(Math.floor(k / PIXELS), k % PIXELS));
  return JSON.stringify({ inputs: [{ name: 'image', datatype: 'FP32', shape: [count, 3, 48, 192], data }] });
}

const meanOf = (n: number): number => {
  let sum = 0;
  for (let i = 0; i < PIXELS; i++) sum += Math.fround(pixel(n, i));
  return sum / PIXELS;
};

describe('body limits that fit tensors', () => {
  // Two 3x48x192 FP32 images as JSON: about 1.1 MB.
  const images = (): string => imagesRequest(2);

  it('answers a JSON request over 1 MiB of two 3x48x192 FP32 images', async () => {
    const body = images();
    // Over the 1 MiB limit that served every route before.
    expect(body.length).toBeGreaterThan(1024 * 1024);
    const res = await request(inferUrl(image), { body });
    expect(res.status).toBe(200);
    const out = (res.body as { outputs: { name: string; shape: number[]; data: number[] }[] }).outputs[0];
    expect(out?.shape).toEqual([2]);
    expect(out?.data[0]).toBeCloseTo(meanOf(0), 4);
    expect(out?.data[1]).toBeCloseTo(meanOf(1), 4);
  });

  it('413 JSON naming MAX_TENSOR_BODY_BYTES for a body over the tensor limit', async () => {
    const body = imagesRequest(4);
    expect(body.length).toBeGreaterThan(2_000_000);
    const res = await request(inferUrl(small), { body });
    expect(res.status).toBe(413);
    expect((res.body as { error: string }).error).toMatch(/exceeds 2000000 bytes \(MAX_TENSOR_BODY_BYTES\)/);
  });

  it('503 with Retry-After beyond MAX_QUEUED_BYTES under a burst, and stays healthy', async () => {
    const body = images();
    const replies = await Promise.all(Array.from({ length: 16 }, () => request(inferUrl(small), { body })));
    const statuses = replies.map((r) => r.status);
    expect(statuses).toContain(200);
    expect(statuses).toContain(503);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const refused = replies.find((r) => r.status === 503);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect((refused?.body as { error: string }).error).toMatch(/MAX_QUEUED_BYTES=3000000/);

    expect((await request(`${small.url}/v2/health/ready`)).status).toBe(200);
    const after = await request(inferUrl(small), { body });
    expect(after.status).toBe(200);
  });

  it('refuses MAX_QUEUED_BYTES below MAX_TENSOR_BODY_BYTES at startup', async () => {
    const res = await runToExit(imageDir, {
      MAX_BODY_BYTES: '1000',
      MAX_TENSOR_BODY_BYTES: '5000',
      MAX_QUEUED_BYTES: '4000',
    });
    expect(res.code).not.toBe(0);
    expect(res.stdout + res.stderr).toMatch(/MAX_QUEUED_BYTES=4000 is below MAX_TENSOR_BODY_BYTES=5000/);
  });
});
