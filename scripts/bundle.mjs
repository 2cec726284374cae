// Rebuilds the committed bundles with @vercel/ncc:
//   src/index.ts                -> dist/index.js                 (the action, runs.main)
//   src/cli.ts                  -> dist/cli/index.js             (the local CLI)
//   server-template/src/main.ts -> server-template/dist/index.js (copied into images)
// onnxruntime-node stays external in the server bundle: its native binaries are staged per
// target platform into the image's node_modules instead of being copied for every platform.
// `npm run bundle -- server` or `-- action` rebuilds only that part.
// Next to the server bundle, bundled-packages.json lists the npm packages ncc compiled into it (from
// the bundler's own module list; name, version, license from each package.json, integrity from
// package-lock.json): the action's SBOM reads it.
// After the server bundle, server-template/runtime-layers.json gets each platform's runtime layer
// diff_id (scripts/runtime-layers.ts): committed with the bundles, checked by scripts/check-dist.sh.
import ncc from '@vercel/ncc';
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
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
      {
        entry: 'server-template/src/main.ts',
        out: 'server-template/dist',
        externals: ['onnxruntime-node'],
        packageList: 'bundled-packages.json',
      },
    ],
  },
};

/** The npm packages whose modules webpack compiled into a bundle, sorted by name and version. */
async function bundledPackages(stats) {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')).packages ?? {};
  const dirs = new Set();
  for (const m of stats.compilation.modules) {
    const resource = m.resource?.split(sep).join('/');
    const match = resource && /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(resource);
    if (match) dirs.add(match[1]);
  }
  const list = [];
  for (const dir of dirs) {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    const entry = lock[relative(root, dir).split(sep).join('/')];
    const license = typeof pkg.license === 'string' ? pkg.license : pkg.license?.type;
    list.push({
      name: pkg.name,
      version: pkg.version,
      ...(license && { license }),
      ...(entry?.integrity && { integrity: entry.integrity }),
    });
  }
  const seen = new Set();
  return list
    .filter((p) => (seen.has(`${p.name}@${p.version}`) ? false : seen.add(`${p.name}@${p.version}`)))
    .sort((a, b) => (a.name === b.name ? (a.version < b.version ? -1 : 1) : a.name < b.name ? -1 : 1));
}

const wanted = process.argv.slice(2);
for (const name of wanted)
  if (!(name in parts)) throw new Error(`unknown bundle part '${name}' (action, server)`);

for (const [name, part] of Object.entries(parts)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  await rm(join(root, part.dir), { recursive: true, force: true });
  for (const t of part.targets) {
    const { code, assets, stats } = await ncc(join(root, t.entry), {
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
    if (t.packageList) {
      const list = await bundledPackages(stats);
      await writeFile(join(outDir, t.packageList), `${JSON.stringify(list, null, 2)}\n`);
    }
    console.log(`bundled ${t.entry} -> ${t.out}/index.js (${Object.keys(assets).length} assets)`);
  }
}

if (wanted.length === 0 || wanted.includes('server')) {
  execFileSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'runtime-layers.ts')], {
    cwd: root,
    stdio: 'inherit',
  });
}
