import { describe, expect, it } from '@jest/globals';
import { buildOutputs, buildSummary, type PackageResult } from '../../src/report.js';
import {
  checkExpectations,
  extractPredictions,
  planSmokeRequest,
  DEFAULT_SENTENCES,
} from '../../src/smoke-test.js';
import { UserError } from '../../src/errors.js';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const result: PackageResult = {
  model: {
    name: 'sentiment',
    version: '3',
    sha256: 'a'.repeat(64),
    source: 'azureml:sentiment:3',
    files: 4,
    bytes: 935_000,
  },
  image: {
    name: 'ghcr.io/org/sentiment',
    digest: `sha256:${'b'.repeat(64)}`,
    tags: ['3', 'latest'],
    platformDigests: { 'linux/amd64': `sha256:${'c'.repeat(64)}`, 'linux/arm64': `sha256:${'d'.repeat(64)}` },
    platformSizes: { 'linux/amd64': 30 * 1024 * 1024, 'linux/arm64': 20 * 1024 * 1024 },
    labels: { 'org.opencontainers.image.version': '3' },
    base: { name: 'gcr.io/distroless/nodejs24-debian12', digest: `sha256:${'e'.repeat(64)}` },
    pushed: true,
  },
  upload: { blobsUploaded: 3, blobsSkipped: 9, bytesUploaded: 123_456 },
  smokeTests: [
    {
      mode: 'process',
      request: { path: '/predict', body: ['MLOps is critical for robustness'] },
      predictions: ['POSITIVE'],
      response: {},
      latencyMs: { first: 12.5, median: 3.1, runs: 5 },
    },
  ],
};

describe('outputs', () => {
  it('are exactly the outputs action.yml declares (with every optional part set)', () => {
    const declared = Object.keys((parse(readFileSync('action.yml', 'utf8')) as { outputs: object }).outputs);
    const full: PackageResult = {
      ...result,
      tokenizer: {
        source: 'https://huggingface.co/FacebookAI/roberta-base@main',
        files: ['tokenizer.json'],
        repo: 'FacebookAI/roberta-base',
        revision: 'main',
        commit: 'f'.repeat(40),
      },
      classLabels: { '0': 'NEGATIVE', '1': 'POSITIVE' },
      manifests: { dir: 'deploy', files: ['deploy/kubernetes.yaml', 'deploy/kserve.yaml'] },
    };
    const o = buildOutputs(full);
    expect(Object.keys(o).sort()).toEqual(declared.sort());
    expect(o.manifests).toBe('deploy');
    const meta = JSON.parse(o.metadata ?? '{}') as { tokenizer: { commit: string }; classLabels: object };
    expect(meta.tokenizer.commit).toBe('f'.repeat(40));
    expect(meta.classLabels).toEqual({ '0': 'NEGATIVE', '1': 'POSITIVE' });
    expect(buildSummary(full)).toContain(
      `| Tokenizer | \`https://huggingface.co/FacebookAI/roberta-base@main\` at \`${'f'.repeat(40)}\``,
    );
  });

  it('give the image by digest, tags, per-platform digests and parseable JSON', () => {
    const o = buildOutputs(result);
    expect(o.image).toBe(`ghcr.io/org/sentiment@sha256:${'b'.repeat(64)}`);
    expect(o['image-name']).toBe('ghcr.io/org/sentiment');
    expect(o.tags).toBe('3,latest');
    expect(JSON.parse(o['platform-digests'] ?? '')).toEqual(result.image.platformDigests);
    expect(JSON.parse(o['smoke-test'] ?? '')).toEqual({
      process: {
        input: ['MLOps is critical for robustness'],
        path: '/predict',
        predictions: ['POSITIVE'],
        latencyMs: { first: 12.5, median: 3.1, runs: 5 },
      },
    });
    expect(JSON.parse(o.metadata ?? '').image.base.digest).toBe(result.image.base.digest);
    expect([o.sbom, o['sbom-digest']]).toEqual(['', '']);
  });

  it('give the SBOM file and its referrer digest, which the summary shows with the oras call', () => {
    const sbom = {
      path: '/runner/temp/sentiment.cdx.json',
      digest: `sha256:${'f'.repeat(64)}`,
      attached: true,
    };
    const o = buildOutputs({ ...result, sbom });
    expect([o.sbom, o['sbom-digest']]).toEqual([sbom.path, sbom.digest]);
    expect(buildSummary({ ...result, sbom })).toContain(
      `| SBOM | CycloneDX 1.6 JSON \`${sbom.path}\`; attached to the image as \`ghcr.io/org/sentiment@${sbom.digest}\` (\`oras discover ghcr.io/org/sentiment@${result.image.digest}\`) |`,
    );
  });
});

describe('job summary', () => {
  it('is a markdown table with the model, image, per-platform digests and sizes and the smoke test', () => {
    const md = buildSummary(result);
    expect(md).toContain(`| Model sha256 | \`${'a'.repeat(64)}\` |`);
    expect(md).toContain(`| linux/arm64 | \`sha256:${'d'.repeat(64)}\` | 20.0 MB |`);
    expect(md).toContain(
      '| process | `POST /predict` `["MLOps is critical for robustness"]` | POSITIVE | 12.5 ms / 3.1 ms (5) |',
    );
    expect(md).toContain('3 blob(s), 120.6 KB uploaded; 9 already present');
  });
});

describe('smoke test planning', () => {
  it('sends default sentences to /predict for text models', () => {
    expect(planSmokeRequest({ textModel: true, modelName: 'm', inputs: [] })).toEqual({
      path: '/predict',
      body: DEFAULT_SENTENCES,
    });
  });

  it('sends zeros of the right shape to v2 infer for tensor models', () => {
    const req = planSmokeRequest({
      textModel: false,
      modelName: 'iris',
      inputs: [{ name: 'float_input', datatype: 'FP32', shape: [-1, 4] }],
    });
    expect(req).toEqual({
      path: '/v2/models/iris/infer',
      body: {
        id: 'smoke-test',
        inputs: [{ name: 'float_input', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }],
      },
    });
  });

  it('rejects texts for a model without tokenizer', () => {
    expect(() => planSmokeRequest({ textModel: false, modelName: 'm', inputs: [], input: ['hi'] })).toThrow(
      /no tokenizer.json/,
    );
  });

  it('reads labels from /predict and argmax rows from v2 outputs', () => {
    expect(
      extractPredictions(
        { path: '/predict', body: [] },
        { positive: true, predictions: [{ label: 'POSITIVE' }, { label: 'NEGATIVE' }] },
      ),
    ).toEqual(['POSITIVE', 'NEGATIVE']);
    expect(
      extractPredictions(
        { path: '/v2/models/m/infer', body: {} },
        { outputs: [{ name: 'p', shape: [2, 3], data: [0.1, 0.7, 0.2, 0.9, 0.05, 0.05] }] },
      ),
    ).toEqual(['1', '0']);
  });

  it('fails with what was predicted and what was expected, saying nothing was pushed', () => {
    expect(() => checkExpectations('process', ['POSITIVE'], ['positive'])).not.toThrow();
    let err: unknown;
    try {
      checkExpectations('container', ['POSITIVE', 'NEGATIVE'], ['POSITIVE', 'POSITIVE']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toMatch(
      /predicted \[POSITIVE, NEGATIVE\] but 'smoke-test-expect' is \[POSITIVE, POSITIVE\]; nothing was pushed\. Fix: /,
    );
  });
});
