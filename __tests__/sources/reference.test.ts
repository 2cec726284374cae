/** The `model` input: every accepted form, and the error listing them for anything else. */
import { describe, expect, test } from '@jest/globals';
import { UserError } from '../../src/errors.js';
import { parseModelReference } from '../../src/model-source/index.js';
import { parseModelUri } from '../../src/model-source/model-uri.js';
import { displayUrl, urlSecrets } from '../../src/util/url.js';
import { userError } from '../fixtures/errors.js';

const SUB = '0b1f6471-1bf0-4dda-aec3-cb9272f09590';

describe('parseModelReference', () => {
  test.each([
    ['sentiment:3', { kind: 'workspace', name: 'sentiment', version: '3' }],
    ['sentiment@latest', { kind: 'workspace', name: 'sentiment', version: 'latest' }],
    ['sentiment', { kind: 'workspace', name: 'sentiment', version: 'latest' }],
    ['my_model.v2:1.0.1', { kind: 'workspace', name: 'my_model.v2', version: '1.0.1' }],
    ['azureml:sentiment:3', { kind: 'workspace', name: 'sentiment', version: '3' }],
    ['azureml:sentiment@latest', { kind: 'workspace', name: 'sentiment', version: 'latest' }],
    [
      `azureml://subscriptions/${SUB}/resourceGroups/rg-1/workspaces/ws-1/models/sentiment/versions/7`,
      {
        kind: 'workspace',
        name: 'sentiment',
        version: '7',
        subscriptionId: SUB,
        resourceGroup: 'rg-1',
        workspace: 'ws-1',
      },
    ],
    [
      `azureml://subscriptions/${SUB}/resourcegroups/rg-1/workspaces/ws-1/models/sentiment/versions/7`,
      {
        kind: 'workspace',
        name: 'sentiment',
        version: '7',
        subscriptionId: SUB,
        resourceGroup: 'rg-1',
        workspace: 'ws-1',
      },
    ],
    [
      `azureml:/subscriptions/${SUB}/resourceGroups/rg-1/providers/Microsoft.MachineLearningServices/workspaces/ws-1/models/sentiment/versions/7`,
      {
        kind: 'workspace',
        name: 'sentiment',
        version: '7',
        subscriptionId: SUB,
        resourceGroup: 'rg-1',
        workspace: 'ws-1',
      },
    ],
    [
      'azureml://registries/azureml/models/roberta-sentiment/versions/4',
      { kind: 'registry', registry: 'azureml', name: 'roberta-sentiment', version: '4' },
    ],
    [
      'https://example.com/models/roberta.onnx?sv=1&sig=abc',
      { kind: 'url', url: 'https://example.com/models/roberta.onnx?sv=1&sig=abc' },
    ],
    ['./examples/sentiment', { kind: 'local', path: './examples/sentiment' }],
    ['examples/sentiment', { kind: 'local', path: 'examples/sentiment' }],
    ['/models/a.onnx', { kind: 'local', path: '/models/a.onnx' }],
    ['model.onnx', { kind: 'local', path: 'model.onnx' }],
    ['.', { kind: 'local', path: '.' }],
    ['C:\\models\\a.onnx', { kind: 'local', path: 'C:\\models\\a.onnx' }],
    ['file:///models/a.onnx', { kind: 'local', path: '/models/a.onnx' }],
    ['  sentiment:3  ', { kind: 'workspace', name: 'sentiment', version: '3' }],
  ])('%s', (input, expected) => {
    expect(parseModelReference(input)).toEqual(expected);
  });

  test.each([
    ['', /is empty/],
    ['http://example.com/model.onnx', /plain http/],
    ['azureml://jobs/brave_cat/outputs/artifacts/paths/model', /job output/],
    ['runs:/abc123/model', /job output/],
    ['azureml:sentiment:3:4', /matches none of the azureml forms/],
    ['azureml://registries/r/models/m', /matches none of the azureml forms/],
    ['s3://bucket/model.onnx', /URL scheme is not supported/],
    ['sentiment:', /matches none/],
    ['-bad:1', /matches none/],
    ['name with spaces', /matches none/],
  ])('rejects %j with the accepted forms', (input, why) => {
    let error: unknown;
    try {
      parseModelReference(input);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    const e = error as UserError;
    expect(e.message).toMatch(why);
    expect(e.fix).toMatch(/name:version.*azureml:\/\/registries.*https:\/\/.*local/);
  });

  test.each([
    'http://example.com/m.onnx?sv=1&sig=SECRETSIG',
    'ftp://user:PASSWORD@example.com/m.onnx?sv=1&sig=SECRETSIG',
    'https://example.com:99999/m.onnx?sv=1&sig=SECRETSIG',
  ])('the error for %s shows the URL without its query or user info', (input) => {
    const e = userError(() => parseModelReference(input));
    expect(e.message).toMatch(/example\.com(:99999)?\/m\.onnx' is not accepted/);
    expect(e.toString()).not.toMatch(/SECRETSIG|PASSWORD|sv=1/);
  });
});

describe('parseModelUri', () => {
  test.each([
    [
      `azureml://subscriptions/${SUB}/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/LocalUpload/abc/model.onnx`,
      {
        kind: 'datastore',
        datastore: 'workspaceblobstore',
        path: 'LocalUpload/abc/model.onnx',
        workspace: { subscriptionId: SUB, resourceGroup: 'rg', workspace: 'ws' },
      },
    ],
    [
      'azureml://datastores/workspaceblobstore/paths/models/m/1/',
      { kind: 'datastore', datastore: 'workspaceblobstore', path: 'models/m/1' },
    ],
    ['folder:azureml://datastores/ds/paths/a%20b/c', { kind: 'datastore', datastore: 'ds', path: 'a b/c' }],
    [
      'file:azureml://datastores/ds/paths/x/model.onnx',
      { kind: 'datastore', datastore: 'ds', path: 'x/model.onnx' },
    ],
    [
      'https://regstore1.blob.core.windows.net/registry-abc/models/m/4',
      {
        kind: 'blob',
        serviceUrl: 'https://regstore1.blob.core.windows.net',
        accountName: 'regstore1',
        container: 'registry-abc',
        path: 'models/m/4',
        sas: undefined,
      },
    ],
    [
      'http://127.0.0.1:10000/devstoreaccount1/c/p/model.onnx?sv=1&sig=x',
      {
        kind: 'blob',
        serviceUrl: 'http://127.0.0.1:10000/devstoreaccount1',
        accountName: 'devstoreaccount1',
        container: 'c',
        path: 'p/model.onnx',
        sas: 'sv=1&sig=x',
      },
    ],
  ])('%s', (uri, expected) => {
    expect(parseModelUri(uri)).toEqual(expected);
  });

  test.each([
    ['azureml://jobs/brave_cat/outputs/artifacts/paths/model/', /job output/],
    ['runs:/abc/model', /job output/],
    ['azureml://datastores/ds/paths/', /empty path|form/],
    ['https://example.com/c/p', /form this action cannot download/],
    ['s3://bucket/x', /form this action cannot download/],
  ])('rejects %s', (uri, why) => {
    expect(() => parseModelUri(uri)).toThrow(why);
  });
});

describe('URLs in logs', () => {
  test('displayUrl drops the query, the fragment and user info', () => {
    expect(displayUrl('https://u:pw@acct.blob.core.windows.net/c/m.onnx?sv=1&sig=abc#x')).toBe(
      'https://acct.blob.core.windows.net/c/m.onnx',
    );
    expect(displayUrl('wasbs://c@acct.blob.core.windows.net/m.onnx?sig=abc')).toBe(
      'wasbs://acct.blob.core.windows.net/m.onnx',
    );
  });

  test('urlSecrets: the query and the signature in every spelling; nothing from names or paths', () => {
    const sig = 'AbC+/dEf=0123';
    const secrets = urlSecrets(`https://h/m.onnx?sv=2024-11-04&sig=${encodeURIComponent(sig)}`);
    expect(secrets).toEqual(
      expect.arrayContaining([`sv=2024-11-04&sig=${encodeURIComponent(sig)}`, sig, encodeURIComponent(sig)]),
    );
    expect(urlSecrets(`?sv=2024-11-04&sig=${sig}`)).toContain(sig);
    expect(urlSecrets('https://u:password1@h/m.onnx')).toContain('password1');
    for (const input of ['sentiment:3', './a=b/model.onnx', 'azureml://registries/r/models/m/versions/1']) {
      expect([input, urlSecrets(input)]).toEqual([input, []]);
    }
  });
});
