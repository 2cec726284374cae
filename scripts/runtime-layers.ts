/**
 * Writes server-template/runtime-layers.json: each platform's runtime layer diff_id and size, staged
 * from node_modules and the server bundle (see src/runtime/shipped.ts). `npm run bundle` runs it after
 * bundling the server. `--check` writes nothing and fails (exit 1) when the file differs from a fresh
 * computation; `--file PATH` checks or writes another file (tests).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { computeRuntimeLayers, formatRuntimeLayers, runtimeLayersPath } from '../src/runtime/shipped.js';
import { silentLogger } from '../src/util/log.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const serverDir = join(root, 'server-template', 'dist');
const args = process.argv.slice(2);
const check = args.includes('--check');
const fileArg = args.indexOf('--file');
const file = (fileArg >= 0 ? args[fileArg + 1] : undefined) ?? runtimeLayersPath(serverDir);

const fresh = formatRuntimeLayers(await computeRuntimeLayers(serverDir, silentLogger));
if (check) {
  const current = await readFile(file, 'utf8').catch(() => '');
  if (current !== fresh) {
    console.error(
      `::error::${file} is stale: it does not give the runtime layers of this server bundle and onnxruntime-node. Fix: Run 'npm run bundle' and commit server-template/runtime-layers.json.`,
    );
    console.error(`expected:\n${fresh}`);
    process.exit(1);
  }
  console.log('runtime layer digests are fresh');
} else {
  await writeFile(file, fresh);
  console.log(`wrote ${file}`);
}
