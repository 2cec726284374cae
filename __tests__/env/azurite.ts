/** Azurite's blob service (npm `azurite`), one instance per call, on a loopback port it picks itself. */
import { createRequire } from 'node:module';
import { makeTempDir, onProcessExit, removeDir, removeDirSync, startService } from './proc.js';

export interface Azurite {
  /** http://127.0.0.1:PORT/devstoreaccount1 (https:// with the `tls` option) */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  connectionString: string;
  stop(): Promise<void>;
}

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
const ACCOUNT_NAME = 'devstoreaccount1';
const ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

function azuriteBlobMain(): string {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve('azurite/dist/src/blob/main.js');
  } catch {
    throw new Error('azurite not found: npm ci (azurite is a devDependency of this repository)');
  }
}

export interface AzuriteOptions {
  /** Serve https with this certificate and key (PEM paths); the endpoint becomes https://. */
  tls?: { certPath: string; keyPath: string };
  /** `basic`: also accept OAuth bearer tokens (checked for audience, issuer and lifetime). */
  oauth?: 'basic';
}

export async function startAzurite(opts: AzuriteOptions = {}): Promise<Azurite> {
  const main = azuriteBlobMain();
  const scheme = opts.tls ? 'https' : 'http';
  const dir = await makeTempDir('azurite');
  const removeAtExit = onProcessExit(() => removeDirSync(dir));
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
      ...(opts.tls ? ['--cert', opts.tls.certPath, '--key', opts.tls.keyPath] : []),
      ...(opts.oauth ? ['--oauth', opts.oauth] : []),
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
      '--silent',
    ],
    { cwd: dir },
  );
  let port: string;
  try {
    const m = await svc.waitForOutput(/successfully listens on https?:\/\/127\.0\.0\.1:(\d+)/, 60_000);
    port = m[1] ?? '';
  } catch (e) {
    await svc.stop();
    await removeDir(dir);
    removeAtExit();
    throw e;
  }
  const blobEndpoint = `${scheme}://127.0.0.1:${port}/${ACCOUNT_NAME}`;
  return {
    blobEndpoint,
    accountName: ACCOUNT_NAME,
    accountKey: ACCOUNT_KEY,
    connectionString:
      `DefaultEndpointsProtocol=${scheme};AccountName=${ACCOUNT_NAME};` +
      `AccountKey=${ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      await svc.stop();
      await removeDir(dir);
      removeAtExit();
    },
  };
}
