/**
 * Malformed requests: each gets a 4xx reply with a JSON {"error"} body, and the server keeps serving.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fixtureModels } from '../fixtures/models.js';
import { metricValue, request, startServer, type RunningServer } from './helpers.js';

let text: RunningServer;
let tensor: RunningServer;

beforeAll(async () => {
  const models = await fixtureModels();
  [text, tensor] = await Promise.all([
    startServer(models.sentiment, { MAX_BODY_BYTES: '4096', MAX_TEXTS: '8' }),
    startServer(models.tensor, { MAX_TEXTS: '8' }),
  ]);
});

afterAll(async () => {
  await Promise.all([text?.stop(), tensor?.stop()]);
});

const fp32 = (data: unknown, shape: unknown = [1, 4], extra: object = {}) =>
  JSON.stringify({ inputs: [{ name: 'float_input', datatype: 'FP32', shape, data, ...extra }] });

type Case = [
  name: string,
  server: 'text' | 'tensor',
  method: string,
  path: string,
  body: string | undefined,
  status: number,
  contentType?: string,
];

const CASES: Case[] = [
  ['empty body', 'text', 'POST', '/predict', '', 400],
  ['whitespace body', 'text', 'POST', '/predict', '   ', 400],
  ['not JSON', 'text', 'POST', '/predict', 'MLOps is critical', 400],
  ['truncated JSON', 'text', 'POST', '/predict', '["MLOps is', 400],
  ['JSON string, not a list', 'text', 'POST', '/predict', '"I love this"', 400],
  ['JSON number', 'text', 'POST', '/predict', '42', 400],
  ['JSON null', 'text', 'POST', '/predict', 'null', 400],
  ['empty list', 'text', 'POST', '/predict', '[]', 400],
  ['number in list', 'text', 'POST', '/predict', '[1]', 400],
  ['null in list', 'text', 'POST', '/predict', '["ok", null]', 400],
  ['nested list', 'text', 'POST', '/predict', '[["I love this"]]', 400],
  ['object in list', 'text', 'POST', '/predict', '[{"text": "hi"}]', 400],
  ['empty string', 'text', 'POST', '/predict', '[""]', 400],
  ['blank string', 'text', 'POST', '/predict', '["   "]', 400],
  ['object without inputs', 'text', 'POST', '/predict', '{"text": "hi"}', 400],
  ['inputs is a number', 'text', 'POST', '/predict', '{"inputs": 5}', 400],
  ['inputs is empty', 'text', 'POST', '/predict', '{"inputs": []}', 400],
  ['top_k zero', 'text', 'POST', '/predict', '{"inputs": "hi", "parameters": {"top_k": 0}}', 400],
  ['top_k text', 'text', 'POST', '/predict', '{"inputs": "hi", "parameters": {"top_k": "2"}}', 400],
  ['parameters not an object', 'text', 'POST', '/predict', '{"inputs": "hi", "parameters": 3}', 400],
  ['too many texts', 'text', 'POST', '/predict', JSON.stringify(new Array(9).fill('hi')), 413],
  ['body over MAX_BODY_BYTES', 'text', 'POST', '/predict', JSON.stringify(['x'.repeat(5000)]), 413],
  ['JSON with text/plain type', 'text', 'POST', '/predict', '[1, 2]', 400, 'text/plain'],
  ['GET on /predict', 'text', 'GET', '/predict', undefined, 404],
  ['unknown route', 'text', 'GET', '/v3/anything', undefined, 404],
  ['v2 infer body is a list', 'tensor', 'POST', '/v2/models/tensor/infer', '[]', 400],
  ['v2 infer without inputs', 'tensor', 'POST', '/v2/models/tensor/infer', '{}', 400],
  ['v2 infer inputs not a list', 'tensor', 'POST', '/v2/models/tensor/infer', '{"inputs": {}}', 400],
  ['v2 infer input not an object', 'tensor', 'POST', '/v2/models/tensor/infer', '{"inputs": [1]}', 400],
  [
    'v2 infer input without name',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    '{"inputs": [{"datatype": "FP32"}]}',
    400,
  ],
  [
    'v2 infer unknown input',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    '{"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [0, 0, 0, 0]}]}',
    400,
  ],
  [
    'v2 infer wrong datatype',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    fp32([0, 0, 0, 0], [1, 4], { datatype: 'INT64' }),
    400,
  ],
  [
    'v2 infer unknown datatype',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    fp32([0, 0, 0, 0], [1, 4], { datatype: 'FLOAT' }),
    400,
  ],
  [
    'v2 infer missing datatype',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    fp32([0, 0, 0, 0], [1, 4], { datatype: undefined }),
    400,
  ],
  ['v2 infer wrong rank', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([0, 0, 0, 0], [4]), 400],
  ['v2 infer wrong fixed dim', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([0, 0, 0], [1, 3]), 400],
  ['v2 infer data too short', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([0, 0, 0], [1, 4]), 400],
  ['v2 infer data too long', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([0, 0, 0, 0, 0], [1, 4]), 400],
  ['v2 infer string in FP32 data', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([0, 'a', 0, 0]), 400],
  ['v2 infer negative shape', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([], [-1, 4]), 400],
  ['v2 infer shape not a list', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([0, 0, 0, 0], '1,4'), 400],
  ['v2 infer data missing', 'tensor', 'POST', '/v2/models/tensor/infer', fp32(undefined), 400],
  [
    'v2 infer too many rows',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    fp32(new Array(36).fill(0), [9, 4]),
    413,
  ],
  [
    'v2 infer duplicate input',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    JSON.stringify({
      inputs: [
        { name: 'float_input', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] },
        { name: 'float_input', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] },
      ],
    }),
    400,
  ],
  [
    'v2 infer unknown output requested',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    JSON.stringify({
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }],
      outputs: [{ name: 'nope' }],
    }),
    400,
  ],
  ['v2 infer id not a string', 'tensor', 'POST', '/v2/models/tensor/infer', '{"id": 7, "inputs": []}', 400],
  [
    'v2 infer BYTES for a tensor model',
    'tensor',
    'POST',
    '/v2/models/tensor/infer',
    fp32(['a'], [1], { datatype: 'BYTES' }),
    400,
  ],
  ['v2 infer on unknown model', 'tensor', 'POST', '/v2/models/nope/infer', fp32([0, 0, 0, 0]), 404],
  [
    'v2 BYTES shape mismatch',
    'text',
    'POST',
    '/v2/models/sentiment/infer',
    '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["hi"]}]}',
    400,
  ],
  [
    'v2 BYTES non-string data',
    'text',
    'POST',
    '/v2/models/sentiment/infer',
    '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [5]}]}',
    400,
  ],
  ['v1 predict without instances', 'tensor', 'POST', '/v1/models/tensor:predict', '{"rows": []}', 400],
  ['v1 predict empty instances', 'tensor', 'POST', '/v1/models/tensor:predict', '{"instances": []}', 400],
  [
    'v1 predict ragged rows',
    'tensor',
    'POST',
    '/v1/models/tensor:predict',
    '{"instances": [[1, 2, 3, 4], [1, 2]]}',
    400,
  ],
  [
    'v1 predict text instances of numbers',
    'text',
    'POST',
    '/v1/models/sentiment:predict',
    '{"instances": [1]}',
    400,
  ],
  [
    'v2 BYTES text input under a name the model does not have',
    'text',
    'POST',
    '/v2/models/sentiment/infer',
    '{"inputs": [{"name": "bogus", "datatype": "BYTES", "shape": [1], "data": ["hi"]}]}',
    400,
  ],
  [
    'v2 text input with a tensor input',
    'text',
    'POST',
    '/v2/models/sentiment/infer',
    '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["hi"]}, {"name": "input_ids", "datatype": "INT64", "shape": [1, 1], "data": [0]}]}',
    400,
  ],
  [
    'v2 text input that is not BYTES',
    'text',
    'POST',
    '/v2/models/sentiment/infer',
    '{"inputs": [{"name": "text", "datatype": "INT64", "shape": [1], "data": [1]}]}',
    400,
  ],
  ['v2 infer 0-row batch', 'tensor', 'POST', '/v2/models/tensor/infer', fp32([], [0, 4]), 400],
  [
    'v1 instance with an input the model does not have',
    'tensor',
    'POST',
    '/v1/models/tensor:predict',
    '{"instances": [{"float_input": [1, 2, 3, 4], "extra": 1}]}',
    400,
  ],
  ['v1 unknown verb', 'text', 'POST', '/v1/models/sentiment:explain', '{"instances": ["hi"]}', 404],
];

describe('malformed requests', () => {
  // A rest parameter: jest reads a declared parameter beyond the table's columns as a `done` callback.
  it.each(CASES)('%s', async (...testCase: Case) => {
    const [, which, method, path, body, status, contentType] = testCase;
    const server = which === 'text' ? text : tensor;
    const reply = await request(`${server.url}${path}`, {
      method,
      body,
      headers: contentType ? { 'content-type': contentType } : undefined,
    });
    expect({ status: reply.status, json: reply.headers.get('content-type') }).toEqual({
      status,
      json: expect.stringMatching(/^application\/json/),
    });
    expect(reply.body).toEqual({ error: expect.any(String) });
    expect((reply.body as { error: string }).error).not.toMatch(/\n\s+at /);
  });

  // Runs after the table (jest keeps declaration order): only the table's requests reached the servers.
  it('counts every rejection in /metrics under its own status, and none as a server error', async () => {
    for (const [which, server] of [
      ['text', text],
      ['tensor', tensor],
    ] as const) {
      const expected = new Map<number, number>();
      for (const c of CASES.filter((c) => c[1] === which)) expected.set(c[5], (expected.get(c[5]) ?? 0) + 1);
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      const counted = new Map(
        [...expected.keys()].map((status) => [
          status,
          metricValue(metrics, 'http_requests_total', { status: String(status) }, 0),
        ]),
      );
      expect({ which, counted }).toEqual({ which, counted: expected });
      for (const status of [500, 502, 503]) {
        expect(metricValue(metrics, 'http_requests_total', { status: String(status) }, 0)).toBe(0);
      }
    }
  });

  // Triton's wording for an input the model does not have, with the allowed names.
  it.each([
    ['a BYTES input', '{"name": "bogus", "datatype": "BYTES", "shape": [1], "data": ["I love this"]}'],
    ['a tensor input', '{"name": "bogus", "datatype": "INT64", "shape": [1, 1], "data": [0]}'],
  ])('v2 names an unexpected input (%s) and the allowed ones', async (_what, tensor) => {
    const reply = await request(`${text.url}/v2/models/sentiment/infer`, { body: `{"inputs": [${tensor}]}` });
    expect(reply.status).toBe(400);
    expect(reply.body).toEqual({
      error:
        "unexpected inference input 'bogus' for model 'sentiment', allowed inputs are: text, input_ids, attention_mask",
    });
  });

  // A body that is not UTF-8 is refused on every JSON route instead of being decoded with U+FFFD.
  const latin1 = Buffer.from('["Caf\xe9 cr\xe8me is lovely"]', 'latin1');
  const v2Text = Buffer.concat([
    Buffer.from('{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["'),
    Buffer.from([0xc3, 0x28, 0xff]),
    Buffer.from('"]}]}'),
  ]);
  const v1Tensor = Buffer.concat([
    Buffer.from('{"instances": [[1, 2, 3, 4]], "x": "'),
    Buffer.from([0xed, 0xa0, 0x80]),
    Buffer.from('"}'),
  ]);
  const endsInside = Buffer.from('["caf\u00e9"] \u00e9', 'utf8').subarray(0, -1);
  it.each([
    ['/predict (latin-1 text)', 'text', '/predict', latin1, /invalid character at byte 5\)/],
    [
      'v2 infer (bad bytes in a string)',
      'text',
      '/v2/models/sentiment/infer',
      v2Text,
      /invalid character at byte 74\)/,
    ],
    [
      'v1 predict (a UTF-16 surrogate in UTF-8)',
      'tensor',
      '/v1/models/tensor:predict',
      v1Tensor,
      /invalid character at byte 36\)/,
    ],
    ['/predict (ends inside a character)', 'text', '/predict', endsInside, /ends inside a character/],
  ])('a body that is not valid UTF-8 gets 400: %s', async (_what, which, path, body, detail) => {
    const server = which === 'text' ? text : tensor;
    const res = await fetch(`${server.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(400);
    const reply = (await res.json()) as { error: string };
    expect(reply.error).toMatch(/^the request body is not valid UTF-8 \(/);
    expect(reply.error).toMatch(detail);
    expect(reply.error).toMatch(/fix: send JSON encoded as UTF-8$/);
  });

  it('the servers still answer after all of them', async () => {
    expect((await request(`${text.url}/v2/health/ready`)).status).toBe(200);
    const reply = await request(`${text.url}/predict`, { body: '["I love this"]' });
    expect(reply.body).toMatchObject({ positive: true });
    const t = await request(`${tensor.url}/v2/models/tensor/infer`, { body: fp32([0, 0, 0, 0]) });
    expect(t.status).toBe(200);
  });
});
