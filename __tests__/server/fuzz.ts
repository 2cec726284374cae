/**
 * Property-based fuzzing of running servers with fast-check: every request is a valid request of some
 * route, mutated (JSON type swaps, zero/negative/huge dimensions, deleted and added keys, deep nesting,
 * huge arrays, byte flips, truncation, inserted bytes, invalid UTF-8, other methods, paths and content
 * types). The property: each answer is below 500 (or 503, the server's load answer), every error is a
 * JSON {"error"} body, the connection is never dropped, and the server process never exits.
 *
 * Used by __tests__/server/fuzz.test.ts (the CI share) and bench/fuzz-server.ts (`npm run fuzz:server`).
 */
import { request as httpRequest } from 'node:http';
import * as fc from 'fast-check';
import type { RunningServer } from './helpers.js';

/** A valid request of one route: the starting point of the mutations. */
export interface Seed {
  method: string;
  path: string;
  body?: unknown;
}

export interface FuzzTarget {
  name: string;
  server: RunningServer;
  seeds: Seed[];
}

/** One generated request, as sent. */
export interface FuzzRequest {
  target: string;
  method: string;
  path: string;
  contentType: string | undefined;
  body: Buffer<ArrayBufferLike> | undefined;
  /** The mutations applied, for the failure report. */
  mutations: string[];
}

export interface FuzzCounts {
  requests: number;
  /** Answers by status class: 2xx, 3xx, 4xx, 5xx. */
  byClass: Record<string, number>;
  byStatus: Record<string, number>;
  /** Answers of 500 or more other than 503. */
  serverErrors: number;
  /** Error answers without a JSON {"error": string} body. */
  badErrorBodies: number;
  /** Requests that got no answer (connection reset, timeout). */
  noAnswer: number;
  /** Server processes that exited during the run. */
  crashes: number;
  /** The first violations (request and what went wrong). */
  examples: { request: string; problem: string }[];
}

/** Valid requests for every route of a text model (`/predict`, v2 text and tokens, v1, metadata). */
export function textSeeds(model: string, version = '1'): Seed[] {
  return [
    { method: 'POST', path: '/predict', body: ['I love this', 'This is terrible'] },
    { method: 'POST', path: '/predict', body: { inputs: 'I love this', parameters: { top_k: 1 } } },
    {
      method: 'POST',
      path: `/v2/models/${model}/infer`,
      body: { id: 'a', inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['I love this'] }] },
    },
    {
      method: 'POST',
      path: `/v2/models/${model}/versions/${version}/infer`,
      body: {
        inputs: [
          { name: 'input_ids', datatype: 'INT64', shape: [1, 3], data: [[0, 5, 2]] },
          { name: 'attention_mask', datatype: 'INT64', shape: [1, 3], data: [1, 1, 1] },
        ],
        outputs: [{ name: 'logits' }],
      },
    },
    { method: 'POST', path: `/v1/models/${model}:predict`, body: { instances: ['I love this', 'Meh'] } },
    ...metadataSeeds(model, version),
  ];
}

/** Valid requests for every route of the iris-like tensor model. */
export function tensorSeeds(model: string, version = '1'): Seed[] {
  return [
    {
      method: 'POST',
      path: `/v2/models/${model}/infer`,
      body: {
        id: 'b',
        inputs: [
          {
            name: 'float_input',
            datatype: 'FP32',
            shape: [2, 4],
            data: [
              [5.1, 3.5, 1.4, 0.2],
              [6.5, 3, 5.5, 2],
            ],
          },
        ],
        outputs: [{ name: 'probabilities' }],
      },
    },
    { method: 'POST', path: `/v1/models/${model}:predict`, body: { instances: [[5.1, 3.5, 1.4, 0.2]] } },
    {
      method: 'POST',
      path: `/v1/models/${model}:predict`,
      body: { instances: [{ float_input: [6.5, 3, 5.5, 2] }] },
    },
    ...metadataSeeds(model, version),
  ];
}

function metadataSeeds(model: string, version: string): Seed[] {
  return [
    '/',
    '/openapi.json',
    '/metrics',
    '/v2',
    '/v2/health/live',
    '/v2/health/ready',
    `/v2/models/${model}`,
    `/v2/models/${model}/ready`,
    `/v2/models/${model}/versions/${version}`,
    '/v1/models',
    `/v1/models/${model}`,
  ].map((path) => ({ method: 'GET', path }));
}

// ---- Mutations of the JSON value -------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Path = (string | number)[];

/** Paths of the nodes to mutate (the first 5,000, at most 50 levels deep: enough to reach any field). */
function paths(value: Json, at: Path = [], out: Path[] = []): Path[] {
  if (out.length >= 5000 || at.length > 50) return out;
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...at, i], out));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) paths(v, [...at, k], out);
  }
  return out;
}

function getAt(root: Json, path: Path): Json {
  let v: Json = root;
  for (const k of path) v = (v as Record<string | number, Json>)[k] as Json;
  return v;
}

/** Replaces (or with `undefined`, deletes) the node at `path`; returns the new root. */
function setAt(root: Json, path: Path, value: Json | undefined): Json | undefined {
  if (path.length === 0) return value;
  const parent = getAt(root, path.slice(0, -1)) as Record<string | number, Json> | Json[];
  const key = path[path.length - 1] as string | number;
  if (value === undefined) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key];
  } else (parent as Record<string | number, Json>)[key] = value;
  return root;
}

const DIMENSIONS = [0, -1, -4, 2 ** 31, 2 ** 31 - 1, 2 ** 53, 1e300, 1.5, 0.5, -0, 1e6, 65536, 3];

const jsonScalar: fc.Arbitrary<Json> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.constantFrom(...DIMENSIONS),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 12 }),
  // Strings the tokenizer and the JSON layers must survive (fc.string's full-unicode units are slow).
  fc.constantFrom(
    '\ud800',
    '\udfff\ud800',
    '\u0000',
    '\ufeff',
    '\u202e',
    '😀'.repeat(50),
    'x'.repeat(5000),
    ' ',
  ),
  fc.constantFrom(
    '',
    'BYTES',
    'FP32',
    'INT64',
    'FP16',
    'BOOL',
    'text',
    'float_input',
    '__proto__',
    'constructor',
  ),
);
const jsonValue: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: jsonScalar },
  { weight: 1, arbitrary: fc.array(jsonScalar, { maxLength: 4 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 6 }), jsonScalar, { maxKeys: 3 }) },
);

type JsonMutation =
  | { kind: 'replace'; at: number; value: Json }
  | { kind: 'dimension'; at: number; value: number }
  | { kind: 'delete'; at: number }
  | { kind: 'add-key'; at: number; key: string; value: Json }
  | { kind: 'nest'; at: number; depth: number }
  | { kind: 'repeat'; at: number; times: number };

const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), value: jsonValue }),
  fc.record({ kind: fc.constant('dimension' as const), at: fc.nat(), value: fc.constantFrom(...DIMENSIONS) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('add-key' as const),
    at: fc.nat(),
    key: fc.constantFrom(
      'name',
      'shape',
      'datatype',
      'data',
      'inputs',
      'outputs',
      'parameters',
      'id',
      'x',
      '__proto__',
    ),
    value: jsonValue,
  }),
  fc.record({
    kind: fc.constant('nest' as const),
    at: fc.nat(),
    depth: fc.constantFrom(2, 33, 100, 1000),
  }),
  fc.record({
    kind: fc.constant('repeat' as const),
    at: fc.nat(),
    times: fc.constantFrom(2, 50, 3000, 100_000),
  }),
);

function applyJson(root: Json, m: JsonMutation): Json | undefined {
  const all = paths(root);
  const path = all[m.at % all.length] as Path;
  const node = getAt(root, path);
  switch (m.kind) {
    case 'replace':
      return setAt(root, path, m.value);
    case 'dimension': {
      // Prefer a number (a shape entry, a datum) so that the dimension lands where numbers are read.
      const numbers = all.filter((p) => typeof getAt(root, p) === 'number');
      const target = numbers.length > 0 ? (numbers[m.at % numbers.length] as Path) : path;
      return setAt(root, target, m.value);
    }
    case 'delete':
      return path.length === 0 ? root : setAt(root, path, undefined);
    case 'add-key':
      if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
        Object.defineProperty(node, m.key, {
          value: m.value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return root;
    case 'nest': {
      let nested: Json = node;
      for (let i = 0; i < m.depth; i++) nested = [nested];
      return setAt(root, path, nested);
    }
    case 'repeat': {
      if (!Array.isArray(node) || node.length === 0) return root;
      // Up to about 1.5 MB of JSON: around and beyond MAX_BODY_BYTES (1 MiB by default).
      const perItem = JSON.stringify(node).length / node.length;
      const length = Math.min(node.length * m.times, Math.floor(1_500_000 / perItem));
      // Copies, not shared references: a later mutation of one item must not grow every copy (a body
      // that multiplies past the cap makes the generator itself run for minutes).
      return setAt(
        root,
        path,
        Array.from({ length }, (_, i) => {
          const item = node[i % node.length] as Json;
          return item !== null && typeof item === 'object' ? structuredClone(item) : item;
        }),
      );
    }
  }
}

// ---- Mutations of the bytes --------------------------------------------------------------------------

type ByteMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'wrap'; depth: number; open: string; close: string };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  // Nesting far deeper than any structure mutation: the whole body inside 100k arrays or objects.
  fc
    .record({
      kind: fc.constant('wrap' as const),
      depth: fc.constantFrom(1000, 100_000, 400_000),
      open: fc.constantFrom('[', '{"a":'),
      close: fc.constant(''),
    })
    .map((m) => ({ ...m, close: m.open === '[' ? ']' : '}' })),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 6 }),
      fc.constantFrom(
        Uint8Array.from([0xc3, 0x28]),
        Uint8Array.from([0xed, 0xa0, 0x80]),
        Uint8Array.from([0xff]),
        Uint8Array.from([0xef, 0xbb, 0xbf]),
        Uint8Array.from([0x00]),
        new TextEncoder().encode('\\ud800'),
      ),
    ),
  }),
);

function applyBytes(body: Buffer<ArrayBufferLike>, m: ByteMutation): Buffer<ArrayBufferLike> {
  if (m.kind === 'wrap') {
    return Buffer.concat([Buffer.from(m.open.repeat(m.depth)), body, Buffer.from(m.close.repeat(m.depth))]);
  }
  const at = body.length === 0 ? 0 : m.at % body.length;
  switch (m.kind) {
    case 'flip':
      if (body.length === 0) return body;
      body[at] = (body[at] as number) ^ (1 << m.bit);
      return body;
    case 'set':
      if (body.length === 0) return body;
      body[at] = m.value;
      return body;
    case 'truncate':
      return body.subarray(0, at);
    case 'insert':
      return Buffer.concat([body.subarray(0, at), m.bytes, body.subarray(at)]);
  }
}

// ---- Requests -------------------------------------------------------------------------------------------

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  'application/cbor',
  '*/*',
  'garbage;;;=',
  '',
];

const PATH_MUTATIONS: [string, (path: string) => string][] = [
  ['other model', (p) => p.replace(/models\/[^/:]+/, 'models/other')],
  ['other version', (p) => p.replace(/models\/([^/:]+)(\/infer)?$/, 'models/$1/versions/9$2')],
  ['query', (p) => `${p}?x=1&x=2&%zz`],
  ['long segment', (p) => `${p}/${'a'.repeat(2000)}`],
  ['percent-encoded', (p) => p.replace(/\//g, '%2F').replace(/^%2F/, '/')],
  ['double slash', (p) => p.replace('/', '//')],
  ['v1 verb', (p) => p.replace(':predict', ':explain')],
  ['trailing colon', (p) => `${p}:`],
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

/** Generated requests against these targets. */
export function fuzzRequest(targets: FuzzTarget[]): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      target: fc.nat(),
      seed: fc.nat(),
      json: fc.array(jsonMutation, { maxLength: 4 }),
      bytes: fc.oneof(
        { weight: 3, arbitrary: fc.constant([]) },
        { weight: 1, arbitrary: fc.array(byteMutation, { minLength: 1, maxLength: 3 }) },
      ),
      contentType: fc.oneof(
        { weight: 6, arbitrary: fc.constant('application/json') },
        { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
        { weight: 1, arbitrary: fc.constant(undefined) },
      ),
      method: fc.oneof(
        { weight: 11, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      path: fc.oneof(
        { weight: 9, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.nat({ max: PATH_MUTATIONS.length - 1 }) },
      ),
    })
    .map((r) => {
      const target = targets[r.target % targets.length] as FuzzTarget;
      const seed = target.seeds[r.seed % target.seeds.length] as Seed;
      const mutations: string[] = [];
      let value = seed.body === undefined ? undefined : (structuredClone(seed.body) as Json);
      for (const m of r.json) {
        if (value === undefined) break;
        value = applyJson(value, m);
        mutations.push(
          JSON.stringify(m, (_k, v: unknown) =>
            typeof v === 'string' && v.length > 40 ? `${v.slice(0, 40)}...` : v,
          ),
        );
      }
      let body: Buffer<ArrayBufferLike> | undefined =
        value === undefined && seed.body === undefined
          ? undefined
          : Buffer.from(value === undefined ? '' : JSON.stringify(value));
      for (const m of r.bytes) {
        body = applyBytes(body ?? Buffer.alloc(0), m);
        mutations.push(m.kind === 'wrap' ? `wrap ${m.depth} x ${m.open}` : `${m.kind}@${m.at}`);
      }
      const [pathName, pathFn] =
        r.path === null
          ? ['', (p: string) => p]
          : (PATH_MUTATIONS[r.path] as [string, (p: string) => string]);
      if (pathName) mutations.push(`path: ${pathName}`);
      if (r.method !== null) mutations.push(`method: ${r.method}`);
      return {
        target: target.name,
        method: r.method ?? seed.method,
        path: pathFn(seed.path),
        contentType: body === undefined ? undefined : r.contentType,
        body,
        mutations,
      };
    });
}

/** A short description of a request for reports (body cut to 300 characters). */
export function describeRequest(r: FuzzRequest): string {
  const body = r.body === undefined ? '' : r.body.toString('latin1');
  const shown = body.length > 300 ? `${body.slice(0, 300)}... (${r.body?.length} bytes)` : body;
  return `${r.target}: ${r.method} ${r.path.slice(0, 200)} [${r.contentType ?? 'no content type'}] ${JSON.stringify(shown)} after ${r.mutations.join(', ') || 'no mutation'}`;
}

interface Answer {
  status: number;
  body: string;
}

/** Sends one request on a connection of its own (a refused body can leave a keep-alive socket stuck). */
function send(server: RunningServer, r: FuzzRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {};
    if (r.contentType !== undefined) headers['content-type'] = r.contentType;
    if (r.body !== undefined) headers['content-length'] = r.body.length;
    let answered = false;
    let failure: Error | undefined;
    const req = httpRequest(
      { host: '127.0.0.1', port: server.port, method: r.method, path: r.path, headers, agent: false },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
        res.on('close', () => reject(new Error('the connection closed before the answer ended')));
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('no answer within 60 s')), 60_000);
    // The server may answer (413) and close before reading a body it refuses: the answer counts, and
    // the write error (EPIPE, ECONNRESET) only matters when no answer came.
    req.on('error', (err) => (failure ??= err));
    req.on('close', () => {
      clearTimeout(timer);
      if (!answered) reject(failure ?? new Error('the connection closed without an answer'));
    });
    req.end(r.body);
  });
}

/** The violation in an answer, or undefined when it is fine. */
function problemOf(r: FuzzRequest, a: Answer): string | undefined {
  if (a.status >= 500 && a.status !== 503) return `status ${a.status}: ${a.body.slice(0, 300)}`;
  if (a.status >= 400 && r.method !== 'HEAD') {
    try {
      const body = JSON.parse(a.body) as unknown;
      if (
        typeof body !== 'object' ||
        body === null ||
        typeof (body as { error?: unknown }).error !== 'string'
      ) {
        return `status ${a.status} without a JSON {"error"} body: ${a.body.slice(0, 300)}`;
      }
    } catch {
      return `status ${a.status} without a JSON body: ${a.body.slice(0, 300)}`;
    }
  }
  return undefined;
}

export interface FuzzOptions {
  /** Requests to send (rounded up to whole groups). */
  requests: number;
  /** Requests sent at once (one property run). */
  concurrency?: number;
  seed?: number;
  /** true: the first violation fails the property (fast-check shrinks it); false: count them all. */
  stopAtFirst: boolean;
}

/** Runs the fuzzer; resolves with the counts, or rejects with fast-check's report when stopAtFirst. */
export async function fuzzServers(targets: FuzzTarget[], opts: FuzzOptions): Promise<FuzzCounts> {
  const concurrency = opts.concurrency ?? 8;
  const counts: FuzzCounts = {
    requests: 0,
    byClass: {},
    byStatus: {},
    serverErrors: 0,
    badErrorBodies: 0,
    noAnswer: 0,
    crashes: 0,
    examples: [],
  };
  const exited = new Set<string>();
  for (const t of targets) void t.server.service.exited.then(() => exited.add(t.name));
  const record = (r: FuzzRequest, problem: string): void => {
    if (counts.examples.length < 20) counts.examples.push({ request: describeRequest(r), problem });
  };
  const property = fc.asyncProperty(
    fc.array(fuzzRequest(targets), { minLength: concurrency, maxLength: concurrency }),
    async (requests) => {
      let ok = true;
      await Promise.all(
        requests.map(async (r) => {
          counts.requests++;
          const server = (targets.find((t) => t.name === r.target) as FuzzTarget).server;
          let answer: Answer;
          try {
            answer = await send(server, r);
          } catch (err) {
            counts.noAnswer++;
            record(r, `no answer: ${(err as Error).message}`);
            ok = false;
            return;
          }
          const cls = `${Math.floor(answer.status / 100)}xx`;
          counts.byClass[cls] = (counts.byClass[cls] ?? 0) + 1;
          counts.byStatus[answer.status] = (counts.byStatus[answer.status] ?? 0) + 1;
          const problem = problemOf(r, answer);
          if (problem === undefined) return;
          if (problem.startsWith('status 5')) counts.serverErrors++;
          else counts.badErrorBodies++;
          record(r, problem);
          ok = false;
        }),
      );
      if (exited.size > 0) {
        counts.crashes = exited.size;
        ok = false;
      }
      return ok || !opts.stopAtFirst;
    },
  );
  await fc.assert(property, { numRuns: Math.ceil(opts.requests / concurrency), seed: opts.seed });
  counts.crashes = exited.size;
  return counts;
}
