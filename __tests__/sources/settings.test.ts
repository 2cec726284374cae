/** Azure settings: creds JSON, login choice, cloud endpoints, masking. */
import { describe, expect, test } from '@jest/globals';
import { userError } from '../fixtures/errors.js';
import {
  blobServiceUrl,
  identityBlobServiceUrls,
  resolveAzureSettings,
  sameServiceUrl,
} from '../../src/model-source/settings.js';
import { captureLogger } from './helpers.js';

const creds = {
  clientId: 'c1d2e3f4-client',
  clientSecret: 'very~secret~value',
  tenantId: 't1t2t3-tenant',
  subscriptionId: 's1s2s3-sub',
  activeDirectoryEndpointUrl: 'https://login.microsoftonline.us',
  resourceManagerEndpointUrl: 'https://management.usgovcloudapi.net/',
  activeDirectoryGraphResourceId: 'https://graph.windows.net/',
};

describe('resolveAzureSettings', () => {
  test('OIDC from client and tenant ids, public cloud defaults', () => {
    const r = resolveAzureSettings(
      { clientId: 'app', tenantId: 'tenant', workspace: ' ws ' },
      captureLogger(),
    );
    expect(r).toMatchObject({
      login: { kind: 'oidc', clientId: 'app', tenantId: 'tenant' },
      authorityHost: 'https://login.microsoftonline.com',
      customAuthority: false,
      resourceManagerEndpoint: 'https://management.azure.com',
      blobEndpointTemplate: undefined,
      workspace: 'ws',
    });
  });

  test('the creds JSON: client secret login, sovereign endpoints and subscription; every credential masked', () => {
    const logger = captureLogger();
    const r = resolveAzureSettings({ credentialsJson: JSON.stringify(creds) }, logger);
    expect(r).toMatchObject({
      login: {
        kind: 'secret',
        clientId: creds.clientId,
        clientSecret: creds.clientSecret,
        tenantId: creds.tenantId,
      },
      authorityHost: 'https://login.microsoftonline.us',
      customAuthority: true,
      resourceManagerEndpoint: 'https://management.usgovcloudapi.net',
      subscriptionId: 's1s2s3-sub',
    });
    for (const v of [creds.clientId, creds.clientSecret, creds.tenantId, creds.subscriptionId]) {
      expect(logger.secrets).toContain(v);
    }
    expect(logger.secrets).not.toContain(creds.resourceManagerEndpointUrl);
  });

  test('inputs win over the creds JSON endpoints and subscription', () => {
    const r = resolveAzureSettings(
      {
        credentialsJson: JSON.stringify(creds),
        authorityHost: 'https://127.0.0.1:8443/',
        resourceManagerEndpoint: 'https://127.0.0.1:8443',
        subscriptionId: 'other-sub',
        blobEndpointTemplate: 'http://127.0.0.1:10000/{account}/',
      },
      captureLogger(),
    );
    expect(r).toMatchObject({
      authorityHost: 'https://127.0.0.1:8443',
      resourceManagerEndpoint: 'https://127.0.0.1:8443',
      subscriptionId: 'other-sub',
      blobEndpointTemplate: 'http://127.0.0.1:10000/{account}',
    });
  });

  test('invalid creds JSON: an error that never echoes the text', () => {
    const logger = captureLogger();
    const e = userError(() =>
      resolveAzureSettings({ credentialsJson: '{"clientSecret": "oops-secret", ' }, logger),
    );
    expect(e.message).toBe('azure-credentials is not valid JSON.');
    expect(e.toString()).not.toMatch(/oops-secret/);
    expect(logger.secrets).toContain('{"clientSecret": "oops-secret",');
  });

  test('creds JSON without its keys names them', () => {
    const e = userError(() =>
      resolveAzureSettings(
        { credentialsJson: JSON.stringify({ clientId: 'x', clientSecret: 'hidden-one' }) },
        captureLogger(),
      ),
    );
    expect(e.message).toMatch(/missing or has invalid values for: tenantId/);
    expect(e.toString()).not.toMatch(/hidden-one/);
  });

  test('no login at all, or half of OIDC, says what to set', () => {
    expect(userError(() => resolveAzureSettings({}, captureLogger())).fix).toMatch(
      /azure-client-id and azure-tenant-id.*id-token: write.*azure-credentials/,
    );
    expect(userError(() => resolveAzureSettings({ clientId: 'a' }, captureLogger())).message).toMatch(
      /azure-tenant-id is set/,
    );
  });

  test('endpoints must be https URLs; the blob template needs {account}', () => {
    const base = { clientId: 'a', tenantId: 't' };
    expect(
      userError(() => resolveAzureSettings({ ...base, authorityHost: 'http://login' }, captureLogger()))
        .message,
    ).toMatch(/must use https/);
    expect(
      userError(() =>
        resolveAzureSettings({ ...base, resourceManagerEndpoint: 'not a url' }, captureLogger()),
      ).message,
    ).toMatch(/not a valid URL/);
    expect(
      userError(() =>
        resolveAzureSettings({ ...base, blobEndpointTemplate: 'https://blob.example' }, captureLogger()),
      ).message,
    ).toMatch(/no \{account\} placeholder/);
  });
});

test('blobServiceUrl: default public template, sovereign suffix, custom template', () => {
  expect(blobServiceUrl(undefined, 'acct')).toBe('https://acct.blob.core.windows.net');
  expect(blobServiceUrl(undefined, 'acct', 'core.chinacloudapi.cn')).toBe(
    'https://acct.blob.core.chinacloudapi.cn',
  );
  expect(blobServiceUrl('http://127.0.0.1:10000/{account}', 'devstoreaccount1')).toBe(
    'http://127.0.0.1:10000/devstoreaccount1',
  );
});

describe('hosts that may receive the storage token', () => {
  const resolve = (extra: Record<string, string>) =>
    resolveAzureSettings({ clientId: 'a', tenantId: 't', ...extra }, captureLogger());
  const trusted = (extra: Record<string, string>, url: string) =>
    identityBlobServiceUrls(resolve(extra), 'acct').some((t) => sameServiceUrl(t, url));

  test.each([
    ['https://management.azure.com', 'https://acct.blob.core.windows.net'],
    ['https://management.usgovcloudapi.net', 'https://acct.blob.core.usgovcloudapi.net'],
    ['https://management.chinacloudapi.cn/', 'https://ACCT.blob.core.chinacloudapi.cn/'],
  ])("ARM %s: the cloud's own blob storage, and nothing else", (arm, own) => {
    expect(trusted({ resourceManagerEndpoint: arm }, own)).toBe(true);
    for (const other of [
      'https://acct.blob.evil.example',
      'https://acct.blob.core.windows.net.evil.example',
      'https://other.blob.core.windows.net',
      'http://acct.blob.core.windows.net',
      'https://127.0.0.1:10000/acct',
    ]) {
      if (other.toLowerCase() !== own.toLowerCase()) {
        expect([other, trusted({ resourceManagerEndpoint: arm }, other)]).toEqual([other, false]);
      }
    }
  });

  test('the azure-blob-endpoint template adds its host; {endpoint-suffix} is the cloud suffix', () => {
    expect(
      trusted({ blobEndpointTemplate: 'https://127.0.0.1:10000/{account}' }, 'https://127.0.0.1:10000/acct'),
    ).toBe(true);
    const dfs = { blobEndpointTemplate: 'https://{account}.privatelink.blob.{endpoint-suffix}' };
    expect(trusted(dfs, 'https://acct.privatelink.blob.core.windows.net')).toBe(true);
    expect(trusted(dfs, 'https://acct.privatelink.blob.evil.example')).toBe(false);
    // A cloud this action does not know: only a template without {endpoint-suffix} is trusted.
    const unknown = { resourceManagerEndpoint: 'https://management.local.azurestack.external' };
    expect(identityBlobServiceUrls(resolve(unknown), 'acct')).toEqual([]);
    expect(
      trusted(
        { ...unknown, blobEndpointTemplate: 'https://{account}.blob.{endpoint-suffix}' },
        'https://acct.blob.x',
      ),
    ).toBe(false);
  });
});
