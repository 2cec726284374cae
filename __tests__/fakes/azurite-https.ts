/**
 * Azurite's blob service over TLS (the test CA's server certificate) with `--oauth basic`, so bearer
 * tokens from the Entra fake are checked (audience, issuer, lifetime) as storage would: what
 * identity-based datastores need. The plain-http instance comes from __tests__/env (startAzurite).
 */
import { createRequire } from 'node:module';
import { makeTempDir, removeDir, startService } from '../env/proc.js';
import { serverCertPath, serverKeyPath } from './tls.js';

export interface HttpsAzurite {
  /** https://127.0.0.1:PORT/devstoreaccount1 */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  stop(): Promise<void>;
}

export async function startHttpsAzurite(): Promise<HttpsAzurite> {
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const dir = await makeTempDir('azurite-https');
  const svc = startService(
    process.execPath,
    [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--location',
      dir,
      '--cert',
      serverCertPath,
      '--key',
      serverKeyPath,
      '--oauth',
      'basic',
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
      '--silent',
    ],
    { cwd: dir },
  );
  let port: string;
  try {
    port = (await svc.waitForOutput(/successfully listens on https:\/\/127\.0\.0\.1:(\d+)/, 60_000))[1] ?? '';
  } catch (e) {
    await svc.stop();
    await removeDir(dir);
    throw e;
  }
  return {
    blobEndpoint: `https://127.0.0.1:${port}/devstoreaccount1`,
    accountName: 'devstoreaccount1',
    // Azurite's documented development key (public, not a secret).
    accountKey: 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
    async stop() {
      await svc.stop();
      await removeDir(dir);
    },
  };
}
