/**
 * The build's CycloneDX BOM, end to end through the real pipeline (src/main.ts run(), real wiring):
 * a fixture model packaged for two platforms and pushed to Debian's docker-registry (distribution 2.8,
 * no referrers API), then read back as a user would, with plain registry API calls.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { createReadStream } from 'node:fs';
import { ensureBaseImage, startFaultProxy, startRegistry, type LocalRegistry } from '../env/index.js';
import { fixtureModels } from '../fixtures/models.js';
import { run } from '../../src/main.js';
import type { InputName } from '../../src/inputs.js';
import { RegistryClient, bufferBlobSource } from '../../src/image/registry.js';
import { pushReferrer, referrerArtifact, referrersTag } from '../../src/image/referrers.js';
import { silentLogger } from '../../src/util/log.js';
import { buildBom } from '../../src/sbom/bom.js';

const CDX = 'application/vnd.cyclonedx+json';
const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const EPOCH = 1_700_000_000;

let registry: LocalRegistry;
let tmp: string;
let layoutDir: string;
let sentiment: string;

interface Run {
  outputs: Record<string, string>;
  failed?: string;
  summary: string;
  logs: string[];
}

async function packageRun(
  inputs: Partial<Record<InputName, string>>,
  env: NodeJS.ProcessEnv = {},
): Promise<Run> {
  const runnerTemp = await mkdtemp(join(tmp, 'runner-'));
  const outputs: Record<string, string> = {};
  const logs: string[] = [];
  const r: Run = { outputs, summary: '', logs };
  const values: Partial<Record<InputName, string>> = {
    model: sentiment,
    image: `${registry.host}/ml/sentiment`,
    'base-image': `oci-layout:${layoutDir}`,
    platforms: 'linux/amd64,linux/arm64',
    'smoke-test': 'none',
    tags: '{model-version},latest',
    ...inputs,
  };
  await run({
    getInput: (n) => values[n] ?? '',
    logger: { ...silentLogger, info: (m) => logs.push(m), warning: (m) => logs.push(m) },
    setOutput: (n, v) => (outputs[n] = v),
    writeSummary: async (md) => void (r.summary = md),
    fail: (m) => (r.failed = m),
    context: {},
    env: { RUNNER_TEMP: runnerTemp, SOURCE_DATE_EPOCH: String(EPOCH), ...env },
  });
  return r;
}

async function get(path: string, accept = `${INDEX}, ${MANIFEST}`): Promise<Response> {
  return fetch(`${registry.url}${path}`, { headers: { accept } });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Component {
  type: string;
  name: string;
  version?: string;
  purl?: string;
  'bom-ref': string;
  hashes?: Array<{ alg: string; content: string }>;
  licenses?: Array<{ license?: { id?: string; name?: string }; expression?: string }>;
  components?: Component[];
  properties?: Array<{ name: string; value: string }>;
  modelCard?: {
    modelParameters: { task: string; inputs: Array<{ format: string }>; outputs: Array<{ format: string }> };
    properties?: Array<{ name: string; value: string }>;
  };
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'pom-sbom-'));
  [registry, { layoutDir }, { sentiment }] = await Promise.all([
    startRegistry({ auth: 'none' }),
    ensureBaseImage(),
    fixtureModels(),
  ]);
}, 600_000);

afterAll(async () => {
  await registry?.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('the SBOM of a pushed image', () => {
  let first: Run;
  let bom: {
    metadata: { component: Component; timestamp: string };
    components: Component[];
    serialNumber: string;
  };
  let bytes: Buffer;

  beforeAll(async () => {
    first = await packageRun({});
    expect(first.failed).toBeUndefined();
    bytes = await readFile(first.outputs.sbom as string);
    bom = JSON.parse(bytes.toString('utf8')) as typeof bom;
  }, 600_000);

  it('validates against the CycloneDX 1.6 JSON schema (the library validator, which does run)', async () => {
    const validator = new Validation.JsonStrictValidator(Spec.Version.v1dot6);
    expect(await validator.validate(bytes.toString('utf8'))).toBeNull();
    // The validator really checks: a model card with an unknown field is refused.
    const broken = JSON.parse(bytes.toString('utf8')) as { components: Array<Record<string, unknown>> };
    const model = broken.components.find((c) => c['type'] === 'machine-learning-model') as Record<
      string,
      unknown
    >;
    model['modelCard'] = { ...(model['modelCard'] as object), shape: 'not in the schema' };
    expect(await validator.validate(JSON.stringify(broken))).not.toBeNull();
  });

  it('lists the model with every file hashed, its source and a model card read from the model', async () => {
    const model = bom.components.find((c) => c.type === 'machine-learning-model') as Component;
    expect(model.name).toBe(first.outputs['model-name']);
    expect(model.version).toBe(first.outputs['model-version']);
    expect(model.properties).toContainEqual({ name: 'package-onnx-model:model:source', value: sentiment });
    expect(model.properties).toContainEqual({
      name: 'package-onnx-model:model:sha256',
      value: first.outputs['model-sha256'],
    });
    const files = model.components ?? [];
    for (const name of ['model.onnx', 'tokenizer.json', 'config.json']) {
      const f = files.find((c) => c.name === name);
      expect([name, f?.hashes]).toEqual([
        name,
        [{ alg: 'SHA-256', content: sha(await readFile(join(sentiment, name))) }],
      ]);
    }
    const card = model.modelCard as NonNullable<Component['modelCard']>;
    expect(card.modelParameters.task).toBe('text-classification');
    const config = JSON.parse(await readFile(join(sentiment, 'config.json'), 'utf8')) as {
      id2label: Record<string, string>;
    };
    const labels = Object.entries(config.id2label).map(([i, l]) => ({
      name: `package-onnx-model:class-label:${i}`,
      value: l,
    }));
    expect(card.properties).toEqual(expect.arrayContaining(labels));
    // Inputs and outputs as onnxruntime reports them: name, element type, shape.
    expect(card.modelParameters.inputs.map((i) => i.format)).toContainEqual(
      expect.stringMatching(/^input_ids: int64\[\w+,\w+\]$/),
    );
    expect(card.modelParameters.outputs.map((o) => o.format)).toContainEqual(
      expect.stringMatching(new RegExp(`^\\w+: float32\\[\\w+,${labels.length}\\]$`)),
    );
  });

  it('lists the server, the npm packages bundled into it, onnxruntime-node per platform and the base', async () => {
    const server = bom.components.find((c) => c.name === 'onnx-inference-server') as Component;
    expect(server.type).toBe('application');
    const fastifyVersion = (
      JSON.parse(await readFile('node_modules/fastify/package.json', 'utf8')) as { version: string }
    ).version;
    const fastify = server.components?.find((c) => c.name === 'fastify');
    expect(fastify).toMatchObject({
      purl: `pkg:npm/fastify@${fastifyVersion}`,
      licenses: [{ license: { id: 'MIT' } }],
    });
    expect(server.components?.find((c) => c.name === '@fastify/error')?.purl).toMatch(
      /^pkg:npm\/%40fastify\/error@\d/,
    );
    const index = server.components?.find((c) => c.name === 'index.js');
    expect(index?.hashes?.[0]?.content).toBe(sha(await readFile('server-template/dist/index.js')));

    const ort = bom.components.find((c) => c.name === 'onnxruntime-node') as Component;
    expect(ort.purl).toBe('pkg:npm/onnxruntime-node@1.30.0');
    for (const [platform, arch] of [
      ['linux/amd64', 'x64'],
      ['linux/arm64', 'arm64'],
    ] as const) {
      const path = `bin/napi-v6/linux/${arch}/libonnxruntime.so.1`;
      const lib = ort.components?.find((c) => c.name === path);
      expect([platform, lib?.properties, lib?.hashes]).toEqual([
        platform,
        expect.arrayContaining([{ name: 'package-onnx-model:platform', value: platform }]),
        [{ alg: 'SHA-256', content: sha(await readFile(`node_modules/onnxruntime-node/${path}`)) }],
      ]);
    }

    const { digest: baseDigest } = await ensureBaseImage();
    const base = bom.components.find((c) => c['bom-ref'] === 'base-image') as Component;
    expect(base).toMatchObject({ type: 'container', version: baseDigest });
    expect(bom.metadata.component).toMatchObject({
      type: 'container',
      name: `${registry.host}/ml/sentiment`,
      version: first.outputs.digest,
    });
  });

  it('is attached to the image: found from the image digest by the referrers tag, read back byte for byte', async () => {
    const digest = first.outputs.digest as string;
    // Debian's registry has no referrers API ...
    expect((await get(`/v2/ml/sentiment/referrers/${digest}`)).status).toBe(404);
    // ... so the referrers tag schema lists it.
    const res = await get(`/v2/ml/sentiment/manifests/sha256-${digest.slice(7)}`);
    expect(res.status).toBe(200);
    const index = (await res.json()) as {
      mediaType: string;
      manifests: Array<{ digest: string; artifactType: string; mediaType: string }>;
    };
    expect(index.mediaType).toBe(INDEX);
    const listed = index.manifests.filter((m) => m.artifactType === CDX);
    expect(listed.map((m) => m.digest)).toEqual([first.outputs['sbom-digest']]);
    const manifest = (await (
      await get(`/v2/ml/sentiment/manifests/${listed[0]?.digest}`, MANIFEST)
    ).json()) as {
      artifactType: string;
      subject: { digest: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    expect(manifest.artifactType).toBe(CDX);
    expect(manifest.subject.digest).toBe(digest);
    const blob = Buffer.from(
      await (await get(`/v2/ml/sentiment/blobs/${manifest.layers[0]?.digest}`)).arrayBuffer(),
    );
    expect(blob.equals(bytes)).toBe(true);
    expect(first.summary).toContain(first.outputs['sbom-digest']);
  });

  it('is the same BOM on a second run with the same inputs, listed once under the referrers tag', async () => {
    const second = await packageRun({});
    expect(second.failed).toBeUndefined();
    expect(second.outputs.sbom).not.toBe(first.outputs.sbom);
    expect((await readFile(second.outputs.sbom as string)).equals(bytes)).toBe(true);
    expect(bom.metadata.timestamp).toBe(new Date(EPOCH * 1000).toISOString());
    expect(bom.serialNumber).toMatch(
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const index = (await (
      await get(`/v2/ml/sentiment/manifests/sha256-${(first.outputs.digest as string).slice(7)}`)
    ).json()) as {
      manifests: unknown[];
    };
    expect(index.manifests).toHaveLength(1);
  }, 600_000);
});

describe('a model shipped with external weights', () => {
  it('serves model.onnx + model.onnx.data; labels and SBOM keep the original digest next to the shipped files', async () => {
    const r = await packageRun({
      'external-weights': 'true',
      'smoke-test': 'process',
      image: `${registry.host}/ml/sentiment-external`,
    });
    expect(r.failed).toBeUndefined();
    // The server answered from the shipped layout as from the original model.
    const smoke = JSON.parse(r.outputs['smoke-test'] ?? '{}') as Record<string, { predictions: string[] }>;
    expect(smoke.process?.predictions).toEqual(['POSITIVE', 'POSITIVE', 'NEGATIVE']);

    const bom = JSON.parse(await readFile(r.outputs.sbom as string, 'utf8')) as { components: Component[] };
    const model = bom.components.find((c) => c.type === 'machine-learning-model') as Component;
    const props = Object.fromEntries((model.properties ?? []).map((p) => [p.name, p.value]));
    const original = r.outputs['model-sha256'];
    const originalOnnx = sha(await readFile(join(sentiment, 'model.onnx')));
    expect(props['package-onnx-model:model:original:sha256']).toBe(original);
    expect(props['package-onnx-model:model:original:file:model.onnx']).toBe(originalOnnx);
    const shipped = props['package-onnx-model:model:sha256'];
    expect(shipped).toMatch(/^[0-9a-f]{64}$/);
    expect(shipped).not.toBe(original);
    const files = new Map((model.components ?? []).map((c) => [c.name, c.hashes?.[0]?.content]));
    expect(files.get('model.onnx.data')).toMatch(/^[0-9a-f]{64}$/);
    expect(files.get('model.onnx')).not.toBe(originalOnnx);

    const meta = JSON.parse(r.outputs.metadata ?? '{}') as { image: { labels: Record<string, string> } };
    expect(meta.image.labels['io.github.package-onnx-model.model.sha256']).toBe(original);
    expect(meta.image.labels['io.github.package-onnx-model.model.shipped-sha256']).toBe(shipped);
  }, 600_000);
});

describe('the SBOM without a push', () => {
  it('is written and listed in the OCI archive as a referrer of the image', async () => {
    const archive = join(tmp, 'no-push.tar');
    const r = await packageRun({ push: 'false', archive, platforms: 'linux/amd64' });
    expect(r.failed).toBeUndefined();
    const bytes = await readFile(r.outputs.sbom as string);
    const entries = new Map<string, Buffer>();
    const extract = tar.extract();
    const done = (async () => {
      for await (const e of extract) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        entries.set(e.header.name, Buffer.concat(chunks));
      }
    })();
    createReadStream(archive).pipe(extract);
    await done;
    const index = JSON.parse((entries.get('index.json') as Buffer).toString('utf8')) as {
      manifests: Array<{ digest: string; artifactType?: string }>;
    };
    const ref = index.manifests.find((m) => m.artifactType === CDX);
    expect(ref?.digest).toBe(r.outputs['sbom-digest']);
    const manifest = JSON.parse(
      (entries.get(`blobs/sha256/${(ref?.digest as string).slice(7)}`) as Buffer).toString('utf8'),
    ) as { subject: { digest: string }; layers: Array<{ digest: string }> };
    expect(manifest.subject.digest).toBe(r.outputs.digest);
    expect(entries.get(`blobs/sha256/${manifest.layers[0]?.digest.slice(7)}`)?.equals(bytes)).toBe(true);
    expect(r.summary).toContain('SBOM');
  }, 600_000);

  it('is not made with sbom: false', async () => {
    const r = await packageRun({ push: 'false', sbom: 'false', platforms: 'linux/amd64' });
    expect(r.failed).toBeUndefined();
    expect([r.outputs.sbom, r.outputs['sbom-digest']]).toEqual(['', '']);
  }, 600_000);
});

describe('pushReferrer', () => {
  const subjectManifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST,
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: `sha256:${sha(Buffer.from('{}'))}`,
        size: 2,
      },
      layers: [],
    }),
  );
  const subject = {
    mediaType: MANIFEST,
    digest: `sha256:${sha(subjectManifest)}`,
    size: subjectManifest.length,
  };
  const artifact = (text: string) =>
    referrerArtifact({
      subject,
      artifactType: CDX,
      content: Buffer.from(text),
      title: 'sbom.cdx.json',
      created: '2024-01-01T00:00:00Z',
    });

  it('trusts a registry that answers OCI-Subject (referrers API) and writes no referrers tag', async () => {
    const proxy = await startFaultProxy(registry.url);
    try {
      const client = new RegistryClient({ registry: proxy.host, logger: silentLogger });
      const a = artifact('{"api": true}');
      proxy.addFault({
        match: { method: 'PUT', path: new RegExp(`/manifests/${a.digest}$`) },
        action: {
          status: 201,
          headers: { 'oci-subject': subject.digest, 'docker-content-digest': a.digest },
        },
      });
      expect(await pushReferrer(client, 'ml/api', a, silentLogger)).toBe('referrers-api');
      expect(proxy.requests.filter((r) => r.path.includes(referrersTag(subject.digest)))).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('keeps other referrers listed under the tag and refuses a tag that is not an index', async () => {
    const client = new RegistryClient({ registry: registry.host, logger: silentLogger });
    for (const repo of ['ml/tagged', 'ml/squat'])
      await client.pushBlob(repo, bufferBlobSource(Buffer.from('{}')));
    await client.putManifest('ml/tagged', subject.digest, subjectManifest, MANIFEST);
    const a = artifact('{"n": 1}');
    const b = artifact('{"n": 2}');
    expect(await pushReferrer(client, 'ml/tagged', a, silentLogger)).toBe('referrers-tag');
    expect(await pushReferrer(client, 'ml/tagged', b, silentLogger)).toBe('referrers-tag');
    const index = (await (await get(`/v2/ml/tagged/manifests/${referrersTag(subject.digest)}`)).json()) as {
      manifests: Array<{ digest: string }>;
    };
    expect(index.manifests.map((m) => m.digest)).toEqual([a.digest, b.digest]);

    await client.putManifest('ml/squat', referrersTag(subject.digest), subjectManifest, MANIFEST);
    const err = await pushReferrer(client, 'ml/squat', a, silentLogger).catch((e: unknown) => e);
    expect(String(err)).toMatch(
      /referrers tag schema reserves .* not an image index.*Fix: Delete or rename that tag/,
    );
  });
});

describe('buildBom', () => {
  it('lists a tokenizer added to the model with its pinned origin, and stays valid', async () => {
    const file = { path: 'model.onnx', size: 3, sha256: 'a'.repeat(64) };
    const text = buildBom({
      tool: { name: 'package-onnx-model', version: '0.1.0' },
      image: {
        name: 'ghcr.io/org/roberta',
        digest: `sha256:${'b'.repeat(64)}`,
        mediaType: INDEX,
        created: '2024-01-01T00:00:00Z',
        tags: ['9'],
        platformDigests: {},
        base: { name: 'gcr.io/distroless/nodejs24-debian12', digest: `sha256:${'c'.repeat(64)}` },
      },
      model: {
        name: 'roberta',
        version: '9',
        source: 'azureml://registries/reg/models/roberta/versions/9',
        sha256: 'a'.repeat(64),
        files: [file],
        modelFile: 'model.onnx',
        tokenizer: {
          source: 'https://huggingface.co/FacebookAI/roberta-base',
          revision: 'e2c8b7a1',
          files: [{ path: 'tokenizer.json', size: 5, sha256: 'd'.repeat(64) }],
        },
        textModel: true,
        inputs: [{ name: 'input', type: 'int64', shape: ['batch', 'sequence'] }],
        outputs: [{ name: 'output', type: 'float32', shape: ['batch', 2] }],
        labels: [],
      },
      server: { name: 'onnx-inference-server', version: '0.1.0', license: 'MIT', files: [], packages: [] },
      runtime: {
        ort: { name: 'onnxruntime-node', version: '1.30.0', license: 'MIT' },
        common: { name: 'onnxruntime-common', version: '1.30.0', license: 'MIT' },
        platforms: [],
      },
    });
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text)).toBeNull();
    const model = (JSON.parse(text) as { components: Component[] }).components.find(
      (c) => c.type === 'machine-learning-model',
    );
    const tokenizer = model?.components?.find((c) => c.name === 'tokenizer') as Component & {
      externalReferences: Array<{ url: string }>;
    };
    expect(tokenizer).toMatchObject({
      type: 'data',
      version: 'e2c8b7a1',
      externalReferences: [{ url: 'https://huggingface.co/FacebookAI/roberta-base' }],
      components: [{ name: 'tokenizer.json', hashes: [{ alg: 'SHA-256', content: 'd'.repeat(64) }] }],
    });
  });
});
