// Creates, once, a throwaway test CA and a server certificate for 127.0.0.1 / localhost / ::1 under
// .cache/test-ca/ (gitignored). Tests serve TLS fakes (ARM, Entra ID, registries) with the server cert,
// and scripts/test.mjs starts jest with NODE_EXTRA_CA_CERTS pointing at the CA, because Node reads
// that variable only at process start.
//
// Idempotent and race-free: the files are made in a private temp dir and renamed into place in one
// step; a concurrent run that loses the rename keeps the winner's files.
//
// Usage: node scripts/test-ca.mjs   (prints the CA path)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const caDir = join(root, '.cache', 'test-ca');
export const caCertPath = join(caDir, 'ca.crt');
export const serverCertPath = join(caDir, 'server.crt');
export const serverKeyPath = join(caDir, 'server.key');

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes the CA and server cert if they are not there yet; returns the CA certificate's path. */
export function ensureTestCa() {
  if (existsSync(join(caDir, 'complete'))) return caCertPath;
  mkdirSync(dirname(caDir), { recursive: true });
  const tmp = mkdtempSync(join(dirname(caDir), 'test-ca-tmp-'));
  try {
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-days',
        '3650',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-subj',
        '/CN=package-onnx-model test CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      tmp,
    );
    writeFileSync(
      join(tmp, 'server.ext'),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost',
        '',
      ].join('\n'),
    );
    openssl(
      [
        'req',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-sha256',
        '-keyout',
        'server.key',
        '-out',
        'server.csr',
        '-subj',
        '/CN=localhost',
      ],
      tmp,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        'server.csr',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-sha256',
        '-days',
        '3650',
        '-extfile',
        'server.ext',
        '-out',
        'server.crt',
      ],
      tmp,
    );
    writeFileSync(join(tmp, 'complete'), '');
    try {
      renameSync(tmp, caDir);
    } catch (e) {
      // Another run won the race (the target exists and is not empty): keep its files.
      if (!existsSync(join(caDir, 'complete'))) throw e;
      rmSync(tmp, { recursive: true, force: true });
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return caCertPath;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(ensureTestCa());
}
