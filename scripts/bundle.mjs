// Rebuilds the committed bundles with @vercel/ncc:
//   src/index.ts                -> dist/index.js                 (the action, runs.main)
//   src/cli.ts                  -> dist/cli/index.js             (the local CLI)
//   server-template/src/main.ts -> server-template/dist/index.js (copied into images)
// onnxruntime-node stays external in the server bundle: its native binaries are staged per
// target platform into the image's node_modules instead of being copied for every platform.
// `npm run bundle -- server` or `-- action` rebuilds only that part.
import ncc from '@vercel/ncc';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const parts = {
  action: {
    dir: 'dist',
    targets: [
      { entry: 'src/index.ts', out: 'dist', externals: [] },
      { entry: 'src/cli.ts', out: 'dist/cli', externals: [] },
    ],
  },
  server: {
    dir: 'server-template/dist',
    targets: [
      { entry: 'server-template/src/main.ts', out: 'server-template/dist', externals: ['onnxruntime-node'] },
    ],
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted)
  if (!(name in parts)) throw new Error(`unknown bundle part '${name}' (action, server)`);

for (const [name, part] of Object.entries(parts)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  await rm(join(root, part.dir), { recursive: true, force: true });
  for (const t of part.targets) {
    const { code, assets } = await ncc(join(root, t.entry), {
      externals: t.externals,
      minify: false,
      sourceMap: false,
      license: 'licenses.txt',
      quiet: true,
      target: 'es2022',
    });
    const outDir = join(root, t.out);
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'index.js'), code);
    for (const [file, asset] of Object.entries(assets)) {
      await mkdir(dirname(join(outDir, file)), { recursive: true });
      await writeFile(join(outDir, file), asset.source, { mode: asset.permissions });
    }
    console.log(`bundled ${t.entry} -> ${t.out}/index.js (${Object.keys(assets).length} assets)`);
  }
}
