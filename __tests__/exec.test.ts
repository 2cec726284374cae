/**
 * Commands (docker) run through @actions/exec: output collected, nothing echoed to the log (a command
 * line may hold a secret), a missing tool answered like a shell, and a time limit that stops the process.
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TIMED_OUT, runTool } from '../src/util/exec.js';

describe('runTool', () => {
  afterEach(() => {
    jest.restoreAllMocks();
  });

  it('collects stdout, stderr and the exit code, and echoes neither the command line nor its output', async () => {
    const written: string[] = [];
    for (const stream of [process.stdout, process.stderr]) {
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
    }
    const r = await runTool('sh', ['-c', 'echo out; echo err >&2; exit 3', 'sh', 'API_KEY=s3cret']);
    jest.restoreAllMocks();
    expect(r).toEqual({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(written.join('')).not.toContain('s3cret');
    expect(written.join('')).not.toContain('out');
  });

  it('writes the input to the tool, and a tool that exits without reading it still answers its exit code', async () => {
    expect(await runTool('cat', [], { input: 'https://index.docker.io/v1/\n\n' })).toEqual({
      code: 0,
      stdout: 'https://index.docker.io/v1/\n\n',
      stderr: '',
    });
    // A credential helper that fails at once, under its time limit: far more input than a pipe holds
    // (64 KiB), never read.
    const r = await runTool('sh', ['-c', 'echo keychain locked >&2; exit 3'], {
      input: 'x'.repeat(1 << 20),
      timeoutMs: 10_000,
    });
    expect(r).toEqual({ code: 3, stdout: '', stderr: 'keychain locked\n' });
  });

  it('answers 127 with the reason when the tool is not on PATH', async () => {
    const r = await runTool('no-such-tool-here', ['version']);
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('Unable to locate executable file: no-such-tool-here');
  });

  it('stops a command at its time limit: the process is gone and the answer says it timed out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'exec-'));
    try {
      const pidFile = join(dir, 'pid');
      const t0 = Date.now();
      const r = await runTool('sh', ['-c', `echo $$ > ${pidFile}; exec sleep 60`], { timeoutMs: 500 });
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(r.code).toBe(TIMED_OUT);
      expect(r.stderr).toContain('sh -c timed out after 0.5 s');
      // Signal 0 tests that the process exists: it throws ESRCH for one that is gone.
      const pid = Number(await readFile(pidFile, 'utf8'));
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('without coreutils timeout on PATH, still answers at the time limit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'exec-path-'));
    const path = process.env['PATH'];
    try {
      await symlink('/bin/sleep', join(dir, 'sleep'));
      process.env['PATH'] = dir;
      const r = await runTool('sleep', ['2'], { timeoutMs: 300 });
      expect(r.code).toBe(TIMED_OUT);
      expect(r.stderr).toBe('sleep 2 timed out after 0.3 s');
    } finally {
      process.env['PATH'] = path;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
