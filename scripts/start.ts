/**
 * `npm start`: packages the embedded example (examples/sentiment) into an OCI image archive with the
 * same pipeline as the action, offline: no Azure, no registry, no Docker, no internet. The base image is
 * a local one built from this machine's node binary (scripts/base-image.ts) for this machine's platform;
 * the smoke test runs the server in a process (and in a container too when a Docker engine answers).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../src/command.js';
import { hostPlatform } from '../src/runtime/index.js';
import { buildBaseImage } from './base-image.js';

const platform = hostPlatform();
// Relative paths: they end up in the image's base.name label, which must not depend on the machine.
const baseDir = join('.cache', 'start-base-image');
if (!existsSync(join(baseDir, 'index.json'))) {
  console.log(
    `Building the local base image (this machine's node for ${platform}) in .cache/start-base-image`,
  );
  await buildBaseImage({ outDir: baseDir, platforms: [platform], log: (m) => console.log(m) });
}

process.exitCode = await main([
  '--model',
  'examples/sentiment',
  '--image',
  'package-onnx-model/sentiment',
  '--base-image',
  `oci-layout:${baseDir}`,
  '--platforms',
  platform,
  '--archive',
  join('.cache', 'sentiment-image.tar'),
  '--smoke-test-expect',
  'POSITIVE,POSITIVE,NEGATIVE',
  '--no-push',
  ...process.argv.slice(2),
]);
