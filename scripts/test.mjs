// `npm test`: makes sure the test CA exists (scripts/test-ca.mjs), then runs jest as native ESM with
// NODE_EXTRA_CA_CERTS set to that CA, so the TLS fakes (ARM, Entra ID, registries) are trusted by the
// real clients, including child processes the tests start. Arguments, stdio and exit code pass through.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTestCa } from './test-ca.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ca = ensureTestCa();

const child = spawn(
  process.execPath,
  [
    '--experimental-vm-modules',
    '--no-warnings=ExperimentalWarning',
    join(root, 'node_modules', 'jest', 'bin', 'jest.js'),
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } },
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  if (signal) process.kill(process.pid, signal);
  else process.exit(code ?? 1);
});
