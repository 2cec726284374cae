/** Azurite's blob service (npm `azurite`), one instance per call, on a loopback port it picks itself. */
import { createRequire } from 'node:module';
import { makeTempDir, onProcessExit, removeDir, removeDirSync, startService } from './proc.js';

export interface Azurite {
  /** http://127.0.0.1:PORT/devstoreaccount1 */
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

export async function startAzurite(): Promise<Azurite> {
  const main = azuriteBlobMain();
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
      '--skipApiVersionCheck',
      '--loose',
      '--disableTelemetry',
      '--silent',
    ],
    { cwd: dir },
  );
  let port: string;
  try {
    const m = await svc.waitForOutput(/successfully listens on http:\/\/127\.0\.0\.1:(\d+)/, 60_000);
    port = m[1] ?? '';
  } catch (e) {
    await svc.stop();
    await removeDir(dir);
    removeAtExit();
    throw e;
  }
  const blobEndpoint = `http://127.0.0.1:${port}/${ACCOUNT_NAME}`;
  return {
    blobEndpoint,
    accountName: ACCOUNT_NAME,
    accountKey: ACCOUNT_KEY,
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT_NAME};` +
      `AccountKey=${ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`,
    async stop() {
      await svc.stop();
      await removeDir(dir);
      removeAtExit();
    },
  };
}
