import { describe, expect, it } from '@jest/globals';
import { UserError } from '../../src/errors.js';
import {
  formatReference,
  isInsecureRegistry,
  parseImageReference,
  registryBaseUrl,
} from '../../src/image/reference.js';

describe('parseImageReference', () => {
  it.each([
    ['ghcr.io/Owner/My-Model:1.2', { registry: 'ghcr.io', repository: 'owner/my-model', tag: '1.2' }],
    ['node', { registry: 'docker.io', repository: 'library/node' }],
    ['node:24-slim', { registry: 'docker.io', repository: 'library/node', tag: '24-slim' }],
    ['bitnami/redis', { registry: 'docker.io', repository: 'bitnami/redis' }],
    ['index.docker.io/library/node:1', { registry: 'docker.io', repository: 'library/node', tag: '1' }],
    ['localhost/a/b', { registry: 'localhost', repository: 'a/b' }],
    ['127.0.0.1:5000/team/model:v1', { registry: '127.0.0.1:5000', repository: 'team/model', tag: 'v1' }],
    [
      `gcr.io/distroless/nodejs24-debian12@sha256:${'a'.repeat(64)}`,
      { registry: 'gcr.io', repository: 'distroless/nodejs24-debian12', digest: `sha256:${'a'.repeat(64)}` },
    ],
    [
      `r.example.com:443/x/y:t@sha256:${'b'.repeat(64)}`,
      { registry: 'r.example.com:443', repository: 'x/y', tag: 't', digest: `sha256:${'b'.repeat(64)}` },
    ],
  ])('%s', (input, expected) => {
    expect(parseImageReference(input)).toEqual(expected);
  });

  it.each([
    '',
    'ghcr.io/owner/model:',
    'ghcr.io/owner/model:-bad',
    'a//b',
    'ghcr.io/owner/model@sha256:12',
    'ghcr.io/ow ner/m',
    `x:${'t'.repeat(129)}`,
  ])('rejects %p with a fix', (input) => {
    const e = (() => {
      try {
        parseImageReference(input);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(UserError);
    expect((e as UserError).fix).toBeTruthy();
  });

  it('formats back', () => {
    expect(formatReference(parseImageReference('ghcr.io/O/M:1'))).toBe('ghcr.io/o/m:1');
  });

  it('uses plain http only for loopback and insecure-registries', () => {
    expect(registryBaseUrl('127.0.0.1:5000')).toBe('http://127.0.0.1:5000');
    expect(registryBaseUrl('localhost:5000')).toBe('http://localhost:5000');
    expect(registryBaseUrl('[::1]:5000')).toBe('http://[::1]:5000');
    expect(registryBaseUrl('ghcr.io')).toBe('https://ghcr.io');
    expect(registryBaseUrl('docker.io')).toBe('https://registry-1.docker.io');
    expect(isInsecureRegistry('registry.lan:5000', ['registry.lan:5000'])).toBe(true);
    expect(isInsecureRegistry('registry.lan:5000', ['http://registry.lan'])).toBe(true);
    expect(isInsecureRegistry('registry.lan:5000')).toBe(false);
  });
});
