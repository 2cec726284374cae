/**
 * Runs a command line tool through @actions/exec (the toolkit's runner, as the action's design names it)
 * and collects its output, with a time limit.
 *
 * @actions/exec 3 has no timeout and gives no handle on the child: it spawns inside its ToolRunner,
 * whose module its `exports` map does not expose, and passes only cwd and env to spawn (no `signal`,
 * no `timeout`). So the limit is enforced by coreutils `timeout` (present on every Linux runner) run
 * through @actions/exec: it sends SIGTERM at the limit and SIGKILL 5 s later, so nothing is left
 * running. Where `timeout` is not on PATH (a macOS laptop), the tool runs directly and the wait gives
 * up at the limit: the caller gets its answer, the stray process ends when the tool does.
 *
 * Nothing is echoed: @actions/exec prints the command line and streams the output unless `silent`, and
 * a command line can carry a secret (an `-e KEY=VALUE` of a container's environment).
 */
import { getExecOutput, type ExecOptions } from '@actions/exec';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The exit code of a tool that could not be started (as a shell answers). */
const NOT_FOUND = 127;
/** The exit code of a command stopped at its time limit (coreutils `timeout`'s). */
export const TIMED_OUT = 124;
/** After SIGTERM at the limit, SIGKILL this much later. */
const KILL_AFTER_S = 5;

const OPTIONS: ExecOptions = { silent: true, ignoreReturnCode: true };

/** Runs `tool args`, collecting its output; `timeoutMs` stops it (see the module comment). */
export async function runTool(
  tool: string,
  args: string[],
  opts: { timeoutMs?: number } = {},
): Promise<CommandResult> {
  const { timeoutMs } = opts;
  const started = Date.now();
  const result = timeoutMs ? await withTimeoutTool(tool, args, timeoutMs) : await run(tool, args);
  if (timeoutMs && result.code !== 0 && Date.now() - started >= timeoutMs) {
    const note = `${[tool, args[0]].filter(Boolean).join(' ')} timed out after ${timeoutMs / 1000} s`;
    return { ...result, code: TIMED_OUT, stderr: [result.stderr.trim(), note].filter(Boolean).join('\n') };
  }
  return result;
}

async function withTimeoutTool(tool: string, args: string[], timeoutMs: number): Promise<CommandResult> {
  const limit = `${timeoutMs / 1000}s`;
  const r = await run('timeout', [`--kill-after=${KILL_AFTER_S}s`, limit, tool, ...args]);
  if (r.code !== NOT_FOUND || !r.stderr.startsWith('Unable to locate executable file: timeout.')) return r;
  // No coreutils `timeout`: wait at most the limit.
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<CommandResult>((resolve) => {
    timer = setTimeout(() => resolve({ code: TIMED_OUT, stdout: '', stderr: '' }), timeoutMs);
  });
  return Promise.race([run(tool, args), gaveUp]).finally(() => clearTimeout(timer));
}

async function run(tool: string, args: string[]): Promise<CommandResult> {
  try {
    const r = await getExecOutput(tool, args, OPTIONS);
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    // The tool is not on PATH (@actions/exec looks it up before spawning) or could not be started.
    return { code: NOT_FOUND, stdout: '', stderr: e instanceof Error ? e.message : String(e) };
  }
}
