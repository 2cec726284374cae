/** The platforms the base image can be built for, and ELF checks that its binaries fit them. */
import { open } from 'node:fs/promises';

export interface PlatformSpec {
  /** `linux/amd64` */
  name: string;
  /** OCI `architecture` */
  architecture: 'amd64' | 'arm64';
  variant?: string;
  /** Node's `process.arch` for it (and the node-linux-* npm package suffix). */
  nodeArch: 'x64' | 'arm64';
  /** Debian architecture name. */
  debArch: string;
  /** Debian multiarch triplet: libraries live in /lib/<triplet>. */
  triplet: string;
  /** The dynamic loader path binaries for it request (PT_INTERP). */
  loader: string;
  /** ELF e_machine. */
  elfMachine: number;
}

export const PLATFORMS: Record<string, PlatformSpec> = {
  'linux/amd64': {
    name: 'linux/amd64',
    architecture: 'amd64',
    nodeArch: 'x64',
    debArch: 'amd64',
    triplet: 'x86_64-linux-gnu',
    loader: '/lib64/ld-linux-x86-64.so.2',
    elfMachine: 62, // EM_X86_64
  },
  'linux/arm64': {
    name: 'linux/arm64',
    architecture: 'arm64',
    variant: 'v8',
    nodeArch: 'arm64',
    debArch: 'arm64',
    triplet: 'aarch64-linux-gnu',
    loader: '/lib/ld-linux-aarch64.so.1',
    elfMachine: 183, // EM_AARCH64
  },
};

export function platformSpec(name: string): PlatformSpec {
  const key = name.replace(/^linux\/arm64\/v8$/, 'linux/arm64');
  const spec = PLATFORMS[key];
  if (!spec) {
    throw new Error(`unsupported platform '${name}': use ${Object.keys(PLATFORMS).join(' or ')}`);
  }
  return spec;
}

/** The platform this process runs on, if the base image supports it. */
export function hostPlatform(): PlatformSpec | undefined {
  return Object.values(PLATFORMS).find((p) => p.nodeArch === process.arch);
}

const ELF_MACHINES: Record<number, string> = { 62: 'x86-64', 183: 'aarch64' };

/** `e_machine` of a 64-bit little-endian ELF file, or undefined when the file is not one. */
export async function elfMachine(path: string): Promise<number | undefined> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(20);
    const { bytesRead } = await fh.read(head, 0, 20, 0);
    if (bytesRead < 20 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
    if (head[4] !== 2 || head[5] !== 1) return undefined; // ELFCLASS64, ELFDATA2LSB
    return head.readUInt16LE(18);
  } finally {
    await fh.close();
  }
}

/** Human name of an ELF machine number ('x86-64', 'aarch64'). */
export function elfMachineName(machine: number | undefined): string {
  return machine === undefined ? 'not an ELF file' : (ELF_MACHINES[machine] ?? `machine ${machine}`);
}

/** Throws unless `path` is an ELF binary for `spec`. */
export async function assertElfFor(path: string, spec: PlatformSpec): Promise<void> {
  const m = await elfMachine(path);
  if (m !== spec.elfMachine) {
    throw new Error(`${path} is ${elfMachineName(m)}, not ${elfMachineName(spec.elfMachine)} (${spec.name})`);
  }
}
