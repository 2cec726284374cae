/**
 * Runs the bundled action (dist/index.js) the way the runner runs it: INPUT_* environment, GITHUB_OUTPUT
 * and GITHUB_STEP_SUMMARY files, GITHUB_REPOSITORY/SHA/ACTOR, trusting the test CA of the TLS fakes.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { caCertPath } from '../fakes/tls.js';

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

export const RUN_SHA = '0123456789abcdef0123456789abcdef01234567';

/** The Azure ML workspace the action tests register their models in (on the ARM fake). */
export const RUN_WORKSPACE = {
  subscriptionId: '11111111-2222-3333-4444-555555555555',
  resourceGroup: 'ml-rg',
  workspace: 'ml-ws',
};

/** Parses the runner's GITHUB_OUTPUT file format (`name<<DELIM` ... `DELIM`). */
function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([^<=]+)<<(.+)$/.exec(lines[i] ?? '');
    if (!m) continue;
    const value: string[] = [];
    for (i++; i < lines.length && lines[i] !== m[2]; i++) value.push(lines[i] ?? '');
    out[m[1] as string] = value.join('\n');
  }
  return out;
}

/** Runs the action once in a fresh RUNNER_TEMP under `tmp`, with `inputs` as given (no defaults). */
export async function runBundledAction(run: {
  tmp: string;
  inputs: Record<string, string>;
  env?: Record<string, string>;
}): Promise<ActionRun> {
  const dir = await mkdtemp(join(run.tmp, 'run-'));
  const outputFile = join(dir, 'output');
  const summaryFile = join(dir, 'summary');
  await writeFile(outputFile, '');
  await writeFile(summaryFile, '');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NODE_EXTRA_CA_CERTS: caCertPath,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_REPOSITORY: 'Octo-Org/models',
    GITHUB_SHA: RUN_SHA,
    GITHUB_ACTOR: 'octocat',
    GITHUB_SERVER_URL: 'https://github.com',
    RUNNER_TEMP: dir,
    RUNNER_TOOL_CACHE: join(run.tmp, 'tool-cache'),
    ...run.env,
  };
  for (const [k, v] of Object.entries(run.inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const child = spawn(process.execPath, ['dist/index.js'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  return {
    code,
    stdout,
    stderr,
    outputs: parseOutputFile(await readFile(outputFile, 'utf8')),
    summary: await readFile(summaryFile, 'utf8'),
  };
}

/** Every line a user sees, with the runner's own mask registrations removed. */
export function visibleOutput(run: ActionRun): string {
  return (run.stdout + run.stderr)
    .split('\n')
    .filter((l) => !l.startsWith('::add-mask::'))
    .join('\n');
}
