/**
 * The test CA made by scripts/test-ca.mjs (which `npm test` runs before jest, setting
 * NODE_EXTRA_CA_CERTS to `caCertPath`). TLS fakes serve `serverCertPath` / `serverKeyPath`; a test that
 * starts a child process passes `childEnv()` so the child trusts them too.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const caDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '.cache', 'test-ca');

export const caCertPath = join(caDir, 'ca.crt');
export const serverCertPath = join(caDir, 'server.crt');
export const serverKeyPath = join(caDir, 'server.key');

/** Certificate and key for `https.createServer`; throws the fix when the CA has not been made. */
export function serverTlsOptions(): { cert: Buffer; key: Buffer } {
  try {
    return { cert: readFileSync(serverCertPath), key: readFileSync(serverKeyPath) };
  } catch {
    throw new Error('test CA missing: run the tests with `npm test` (it runs scripts/test-ca.mjs first)');
  }
}

/** True when this process trusts the test CA (it was started by scripts/test.mjs). */
export function processTrustsTestCa(): boolean {
  return process.env.NODE_EXTRA_CA_CERTS === caCertPath;
}

/** Environment for a child process that must trust the TLS fakes. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_EXTRA_CA_CERTS: caCertPath, ...extra };
}
