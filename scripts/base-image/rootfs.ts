/**
 * What goes into the base image's root filesystem for one platform: a node binary, the shared
 * libraries it and onnxruntime-node need (with the dynamic loader), /etc/passwd and /etc/group with
 * root and a non-root `node` user (1000:1000), /tmp (1777) and /home/node.
 *
 * Host platform: the running `node` and every library `ldd` lists for it and for onnxruntime-node's
 * native binaries. Other platform (arm64 on an x64 host): node from the `node-linux-<arch>` npm package
 * (fetched with `npm pack`, since it cannot be installed on this arch) and glibc, libstdc++ and libgcc
 * from Debian's packages for that arch, downloaded with apt-get under a private state dir in the cache
 * (no system change, no `dpkg --add-architecture`) and unpacked with dpkg-deb. Where apt cannot fetch
 * them, the image carries the node binary alone (it cannot run then; the tests here only check that its
 * files are aarch64 ELF) and the build prints a warning saying so.
 */
import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { access, lstat, mkdir, mkdtemp, readdir, readlink, realpath, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { assertElfFor, type PlatformSpec } from './platforms.js';

const run = promisify(execFile);

export interface RootfsEntry {
  /** Absolute path in the image. */
  path: string;
  type: 'dir' | 'file';
  mode: number;
  uid?: number;
  gid?: number;
  /** File on disk (type 'file', unless `content`). */
  source?: string;
  content?: Buffer;
}

export interface PlatformRootfs {
  spec: PlatformSpec;
  nodeVersion: string;
  /** Layer 1: users, dirs, shared libraries and the loader. */
  system: RootfsEntry[];
  /** Layer 2: /usr/local/bin/node. */
  node: RootfsEntry[];
  /** Things a reader of the image should know (e.g. libraries left out). */
  notes: string[];
}

export interface RootfsOptions {
  /** Where downloads (npm tarballs, Debian packages) are kept between builds. */
  cacheDir: string;
  /** node-linux-<arch> version for a non-host platform. */
  foreignNodeVersion: string;
  log: (message: string) => void;
}

/** onnxruntime-node (and node) need these at run time even when `ldd node` does not list them all. */
const RUNTIME_LIBS = [
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'libdl.so.2',
  'librt.so.1',
  'libstdc++.so.6',
  'libgcc_s.so.1',
];

const PASSWD = 'root:x:0:0:root:/root:/sbin/nologin\nnode:x:1000:1000:node:/home/node:/sbin/nologin\n';
const GROUP = 'root:x:0:\nnode:x:1000:\n';

function systemEntries(): RootfsEntry[] {
  return [
    { path: '/etc', type: 'dir', mode: 0o755 },
    { path: '/etc/passwd', type: 'file', mode: 0o644, content: Buffer.from(PASSWD) },
    { path: '/etc/group', type: 'file', mode: 0o644, content: Buffer.from(GROUP) },
    { path: '/tmp', type: 'dir', mode: 0o1777 },
    { path: '/root', type: 'dir', mode: 0o700 },
    { path: '/home', type: 'dir', mode: 0o755 },
    { path: '/home/node', type: 'dir', mode: 0o755, uid: 1000, gid: 1000 },
  ];
}

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

/** Absolute library paths in `ldd` output (the vdso and unresolved names are skipped). */
export function parseLdd(output: string): string[] {
  const paths: string[] = [];
  for (const line of output.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) paths.push(m[1]);
  }
  return paths;
}

async function ldd(file: string): Promise<string[]> {
  try {
    const { stdout } = await run('ldd', [file]);
    return parseLdd(stdout);
  } catch (e) {
    throw new Error(`ldd ${file} failed (is libc-bin installed?): ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/** onnxruntime-node's native files for an arch, if the package is installed. */
async function onnxruntimeBinaries(nodeArch: string): Promise<string[]> {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = dirname(require.resolve('onnxruntime-node/package.json'));
  } catch {
    return [];
  }
  const dir = join(pkg, 'bin', 'napi-v6', 'linux', nodeArch);
  if (!(await exists(dir))) return [];
  return (await readdir(dir)).filter((n) => /\.so(\.|$)|\.node$/.test(n)).map((n) => join(dir, n));
}

function fileEntry(path: string, source: string, mode = 0o755): RootfsEntry {
  return { path, type: 'file', mode, source };
}

/** The host's node and libraries. */
async function hostRootfs(spec: PlatformSpec, log: (m: string) => void): Promise<PlatformRootfs> {
  const node = await realpath(process.execPath);
  await assertElfFor(node, spec);
  const wanted = new Map<string, string>(); // image path -> host path
  const binaries = [node, ...(await onnxruntimeBinaries(spec.nodeArch))];
  // System libraries only: onnxruntime's own libonnxruntime.so ships in the image's runtime layer.
  const isSystemLib = (p: string): boolean => /^\/(usr\/)?lib(32|64)?\//.test(p);
  for (const bin of binaries) for (const lib of await ldd(bin)) if (isSystemLib(lib)) wanted.set(lib, lib);
  const libc = [...wanted.keys()].find((p) => posix.basename(p) === 'libc.so.6');
  const libDirs = [
    ...(libc ? [posix.dirname(libc)] : []),
    `/lib/${spec.triplet}`,
    `/usr/lib/${spec.triplet}`,
  ];
  for (const name of RUNTIME_LIBS) {
    if ([...wanted.keys()].some((p) => posix.basename(p) === name)) continue;
    let found: string | undefined;
    for (const d of libDirs) if (!found && (await exists(join(d, name)))) found = join(d, name);
    if (!found) throw new Error(`${name} not found in ${libDirs.join(', ')}`);
    wanted.set(posix.join(libDirs[0]!, name), found);
  }
  const system = systemEntries();
  for (const [imagePath, hostPath] of [...wanted].sort()) {
    const real = await realpath(hostPath);
    await assertElfFor(real, spec);
    system.push(fileEntry(imagePath, real));
  }
  log(`${spec.name}: host node ${process.version}, ${wanted.size} shared libraries (ldd)`);
  return {
    spec,
    nodeVersion: process.version,
    system,
    node: [fileEntry('/usr/local/bin/node', node)],
    notes: [],
  };
}

/** Extracts `package/bin/node` from a node-linux-* npm tarball into `dest`. */
async function extractNodeFromTarball(tgz: string, dest: string): Promise<void> {
  const extract = tar.extract();
  let found = false;
  const tmp = `${dest}.tmp-${process.pid}`;
  extract.on('entry', (header, stream, next) => {
    if (header.name === 'package/bin/node' && header.type === 'file') {
      found = true;
      pipeline(stream, createWriteStream(tmp, { mode: 0o755 })).then(() => next(), next);
    } else {
      stream.on('end', () => next());
      stream.resume();
    }
  });
  await pipeline(createReadStream(tgz), createGunzip(), extract);
  if (!found) throw new Error(`${tgz} has no package/bin/node`);
  await rename(tmp, dest);
}

/** node for a foreign arch, from the node-linux-<arch> npm package (cached). */
async function foreignNode(spec: PlatformSpec, opts: RootfsOptions): Promise<string> {
  const pkg = `node-linux-${spec.nodeArch}`;
  const dir = join(opts.cacheDir, `${pkg}-${opts.foreignNodeVersion}`);
  const node = join(dir, 'node');
  if (await exists(node)) return node;
  await mkdir(dir, { recursive: true });
  opts.log(`${spec.name}: fetching ${pkg}@${opts.foreignNodeVersion} with npm pack`);
  const { stdout } = await run(
    'npm',
    ['pack', `${pkg}@${opts.foreignNodeVersion}`, '--pack-destination', dir, '--silent'],
    { cwd: dir, maxBuffer: 16 << 20 },
  );
  const tgz = stdout.trim().split('\n').at(-1)?.trim();
  if (!tgz) throw new Error(`npm pack ${pkg}@${opts.foreignNodeVersion} printed no file name`);
  await extractNodeFromTarball(join(dir, tgz), node);
  await rm(join(dir, tgz), { force: true });
  return node;
}

const DEB_PACKAGES = ['libc6', 'libstdc++6', 'libgcc-s1'];

/**
 * Debian's glibc, libstdc++ and libgcc for `spec`, unpacked under one dir (cached). apt-get runs with
 * its own lists, cache and (empty) status file under the cache dir, so the host is not changed.
 */
async function foreignDebRoot(spec: PlatformSpec, opts: RootfsOptions): Promise<string> {
  const root = join(opts.cacheDir, `debian-libs-${spec.debArch}`);
  if (await exists(root)) return root;
  await mkdir(opts.cacheDir, { recursive: true });
  const work = await mkdtemp(join(opts.cacheDir, `apt-${spec.debArch}-`));
  try {
    const status = join(work, 'status');
    await mkdir(join(work, 'lists', 'partial'), { recursive: true });
    await mkdir(join(work, 'cache', 'archives', 'partial'), { recursive: true });
    await run('touch', [status]);
    const aptOpts = [
      '-q',
      '-o',
      `APT::Architecture=${spec.debArch}`,
      '-o',
      `APT::Architectures::=${spec.debArch}`,
      '-o',
      `Dir::State::Lists=${join(work, 'lists')}`,
      '-o',
      `Dir::Cache=${join(work, 'cache')}`,
      '-o',
      `Dir::State::status=${status}`,
      '-o',
      'Debug::NoLocking=1',
      '-o',
      'APT::Sandbox::User=root',
      '-o',
      'Acquire::Languages=none',
    ];
    opts.log(`${spec.name}: downloading ${DEB_PACKAGES.join(' ')} (${spec.debArch}) with apt-get`);
    await run('apt-get', [...aptOpts, 'update'], { cwd: work, maxBuffer: 16 << 20 });
    const debsDir = join(work, 'debs');
    await mkdir(debsDir);
    await run('apt-get', [...aptOpts, 'download', ...DEB_PACKAGES.map((p) => `${p}:${spec.debArch}`)], {
      cwd: debsDir,
      maxBuffer: 16 << 20,
    });
    const unpacked = join(work, 'root');
    for (const deb of (await readdir(debsDir)).filter((n) => n.endsWith('.deb')).sort()) {
      await run('dpkg-deb', ['-x', join(debsDir, deb), unpacked]);
    }
    await rename(unpacked, root).catch(async (e: NodeJS.ErrnoException) => {
      // Another build won the race; its copy is as good as ours.
      if (e.code !== 'ENOTEMPTY' && e.code !== 'EEXIST') throw e;
    });
    return root;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Follows symlinks of `path` (absolute in the image) inside `root`; returns the host path. */
async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  let cur = path;
  for (let hops = 0; hops < 16; hops++) {
    const host = join(root, cur);
    let st;
    try {
      st = await lstat(host);
    } catch {
      return undefined;
    }
    if (!st.isSymbolicLink()) return st.isFile() ? host : undefined;
    const target = await readlink(host);
    cur = target.startsWith('/') ? target : posix.join(posix.dirname(cur), target);
  }
  return undefined;
}

async function foreignRootfs(spec: PlatformSpec, opts: RootfsOptions): Promise<PlatformRootfs> {
  const node = await foreignNode(spec, opts);
  await assertElfFor(node, spec);
  const system = systemEntries();
  const notes: string[] = [];
  let root: string | undefined;
  try {
    root = await foreignDebRoot(spec, opts);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    notes.push(
      `${spec.name}: node only, without glibc/libstdc++ (apt-get could not fetch ${spec.debArch} packages: ${why}); the image cannot run`,
    );
  }
  if (root) {
    const libDirs = [`/lib/${spec.triplet}`, `/usr/lib/${spec.triplet}`];
    for (const name of RUNTIME_LIBS) {
      let found: string | undefined;
      for (const d of libDirs) found ??= await resolveInRoot(root, posix.join(d, name));
      if (!found) throw new Error(`${name} missing from Debian's ${spec.debArch} packages in ${root}`);
      await assertElfFor(found, spec);
      system.push(fileEntry(posix.join(`/lib/${spec.triplet}`, name), found));
    }
    const loaderName = posix.basename(spec.loader);
    let loader: string | undefined;
    for (const d of [posix.dirname(spec.loader), '/lib', '/usr/lib', ...libDirs]) {
      loader ??= await resolveInRoot(root, posix.join(d, loaderName));
    }
    if (!loader) throw new Error(`${loaderName} missing from Debian's ${spec.debArch} libc6 in ${root}`);
    await assertElfFor(loader, spec);
    system.push(fileEntry(spec.loader, loader));
  }
  for (const n of notes) opts.log(`warning: ${n}`);
  opts.log(
    `${spec.name}: node v${opts.foreignNodeVersion} (npm node-linux-${spec.nodeArch})` +
      (root ? `, glibc/libstdc++/libgcc from Debian ${spec.debArch} packages` : ''),
  );
  return {
    spec,
    nodeVersion: `v${opts.foreignNodeVersion}`,
    system,
    node: [fileEntry('/usr/local/bin/node', node)],
    notes,
  };
}

/** The root filesystem for `spec`: from the host when it is the host's platform, else fetched. */
export async function platformRootfs(spec: PlatformSpec, opts: RootfsOptions): Promise<PlatformRootfs> {
  return spec.nodeArch === process.arch ? hostRootfs(spec, opts.log) : foreignRootfs(spec, opts);
}
