import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { defaultImageName, expandTags, INPUT_NAMES, type InputName, readInputs } from '../../src/inputs.js';
import { userError } from '../fixtures/errors.js';

const actionYml = parse(readFileSync('action.yml', 'utf8')) as {
  inputs: Record<string, { description: string; default?: string; required?: boolean }>;
  outputs: Record<string, { description: string }>;
  runs: { using: string; main: string };
};

const inputs = (values: Partial<Record<InputName, string>>) => (name: InputName) => values[name] ?? '';

describe('action.yml', () => {
  it('declares exactly the inputs the action reads, each described', () => {
    expect(Object.keys(actionYml.inputs).sort()).toEqual([...INPUT_NAMES].sort());
    for (const [name, spec] of Object.entries(actionYml.inputs)) {
      expect([name, spec.description.length > 20]).toEqual([name, true]);
    }
  });

  it('runs on node24 from the committed bundle', () => {
    expect(actionYml.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
  });

  it('leaves the registry credentials empty by default, so an explicit value is told from the token default', () => {
    expect(actionYml.inputs['registry-username']?.default).toBe('');
    expect(actionYml.inputs['registry-password']?.default).toBe('');
    expect(actionYml.inputs['github-token']?.default).toBe('${{ github.token }}');
    expect(actionYml.inputs.registry?.default).toBe('ghcr.io');
  });

  it('has every input and output documented in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    const missing = [
      ...Object.keys(actionYml.inputs).filter((n) => !readme.includes(`| \`${n}\``)),
      ...Object.keys(actionYml.outputs).filter((n) => !readme.includes(`| \`${n}\``)),
    ];
    expect(missing).toEqual([]);
  });
});

describe('readInputs', () => {
  it('reads the tokenizer, class labels, archive format and manifest inputs', () => {
    const o = readInputs(
      inputs({
        model: 'roberta-sequence-classification-9.onnx',
        tokenizer: 'FacebookAI/roberta-base@main',
        'huggingface-endpoint': 'https://hf.example.com/',
        'class-labels': 'NEGATIVE, POSITIVE',
        'archive-format': 'docker-archive',
        manifests: 'deploy',
        cpu: '500m',
        memory: '2Gi',
      }),
    );
    expect(o).toMatchObject({
      tokenizer: 'FacebookAI/roberta-base@main',
      huggingfaceEndpoint: 'https://hf.example.com',
      classLabels: ['NEGATIVE', 'POSITIVE'],
      archiveFormat: 'docker',
      manifests: 'deploy',
      resources: { cpu: '500m', memory: '2Gi' },
    });
    expect(readInputs(inputs({ model: 'm' }))).toMatchObject({
      archiveFormat: 'oci',
      classLabels: [],
      resources: { cpu: '1', memory: '1Gi' },
    });
  });

  it.each<[string, Partial<Record<InputName, string>>, RegExp]>([
    ['a plain-http Hub endpoint', { 'huggingface-endpoint': 'http://hf.example.com' }, /not an https URL/],
    ['a class named twice', { 'class-labels': 'A,B,A' }, /names a class twice/],
    ['an unknown archive format', { 'archive-format': 'zip' }, /'archive-format' is 'zip'/],
    ['a cpu that is no quantity', { cpu: 'two' }, /'cpu' is 'two', not a Kubernetes quantity/],
    ['manifests without a push', { manifests: 'deploy', push: 'false' }, /pin the pushed image by digest/],
  ])('rejects %s with a message and a fix', (_, values, message) => {
    const e = userError(() => readInputs(inputs({ model: 'm', ...values })));
    expect(e.toString()).toMatch(message);
    expect(e.toString()).toMatch(/Fix: /);
  });

  it('applies the documented defaults', () => {
    const o = readInputs(inputs({ model: 'sentiment:3' }));
    expect(o.platforms).toEqual(['linux/amd64', 'linux/arm64']);
    expect(o.registry).toBe('ghcr.io');
    expect(o.push).toBe(true);
    expect(o.sbom).toBe(true);
    expect(readInputs(inputs({ model: 'm', sbom: 'false' })).sbom).toBe(false);
    expect(o.smokeTest).toBe('auto');
    expect(o.port).toBe(8080);
    expect(o.serverEnv).toEqual({ PORT: '8080' });
    expect(o.baseImage).toBe(actionYml.inputs['base-image']?.default);
  });

  it('parses lists, labels, server settings and the smoke-test input', () => {
    const o = readInputs(
      inputs({
        model: 'm',
        tags: 'v1\n latest ,{short-sha}',
        labels: 'team=ml\norg.example.owner = me',
        platforms: 'linux/arm64',
        push: 'false',
        workers: '2',
        'max-batch-size': '16',
        'server-env': 'MAX_QUEUE=64\nLOG_LEVEL=debug',
        'smoke-test-input': '["hello"]',
        'smoke-test-expect': 'POSITIVE',
      }),
    );
    expect(o.tags).toEqual(['v1', 'latest', '{short-sha}']);
    expect(o.labels).toEqual({ team: 'ml', 'org.example.owner': 'me' });
    expect(o.platforms).toEqual(['linux/arm64']);
    expect(o.push).toBe(false);
    expect(o.serverEnv).toEqual({
      MAX_QUEUE: '64',
      LOG_LEVEL: 'debug',
      WORKERS: '2',
      MAX_BATCH_SIZE: '16',
      PORT: '8080',
    });
    expect(o.smokeTestInput).toEqual(['hello']);
    expect(o.smokeTestExpect).toEqual(['POSITIVE']);
  });

  it.each<[string, Partial<Record<InputName, string>>, RegExp]>([
    ['missing model', {}, /'model' is required/],
    ['bad platform', { model: 'm', platforms: 'linux/amd64,windows/amd64' }, /windows\/amd64/],
    ['bad smoke-test mode', { model: 'm', 'smoke-test': 'sometimes' }, /smoke-test/],
    ['bad smoke-test JSON', { model: 'm', 'smoke-test-input': '[oops' }, /not valid JSON/],
    ['bad push', { model: 'm', push: 'maybe' }, /not a boolean/],
    ['bad sbom', { model: 'm', sbom: 'cyclonedx' }, /'sbom' is 'cyclonedx', not a boolean/],
    ['bad port', { model: 'm', port: '70000' }, /between 1 and 65535/],
    ['bad workers', { model: 'm', workers: 'many' }, /whole number/],
    ['bad label line', { model: 'm', labels: 'just-a-word' }, /not key=value/],
    ['bad env name', { model: 'm', 'server-env': 'lower=1' }, /not an environment variable name/],
    ['bad sha256', { model: 'm', 'model-sha256': 'abc' }, /not a sha256 digest/],
  ])('rejects %s with a message and a fix', (_, values, message) => {
    const e = userError(() => readInputs(inputs(values)));
    expect(e.message).toMatch(message);
    expect(e.fix.length).toBeGreaterThan(5);
  });
});

describe('tags and image names', () => {
  it('expands the placeholders and defaults to the model version and latest', () => {
    expect(expandTags([], { modelName: 'm', modelVersion: '3' })).toEqual(['3', 'latest']);
    expect(
      expandTags(['{model-name}-{model-version}', '{short-sha}', 'sha-{sha}'], {
        modelName: 'sentiment',
        modelVersion: '12',
        sha: '0123456789abcdef0123456789abcdef01234567',
      }),
    ).toEqual(['sentiment-12', '0123456', 'sha-0123456789abcdef0123456789abcdef01234567']);
  });

  it('makes model versions with other characters into valid tags', () => {
    expect(expandTags(['{model-version}'], { modelName: 'm', modelVersion: '1.0+build/7' })).toEqual([
      '1.0-build-7',
    ]);
  });

  it('needs the commit for {sha}', () => {
    expect(userError(() => expandTags(['{sha}'], { modelName: 'm', modelVersion: '1' })).message).toMatch(
      /commit sha/,
    );
  });

  it('lowercases the default image name (GHCR rejects capitals)', () => {
    expect(defaultImageName('ghcr.io', 'My-Org/repo', 'Sentiment_Model')).toBe(
      'ghcr.io/my-org/sentiment_model',
    );
  });
});
