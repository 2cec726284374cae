/**
 * Runs a command line tool (docker, a Docker credential helper) through @actions/exec (the toolkit's
 * runner, as the action's design names it) and collects its output, with a time limit.
 *
 * @actions/exec 3 has no timeout and gives no handle on the child: it spawns inside its ToolRunner,
 * whose module its `exports` map does not expose, and passes only cwd and env to spawn (no `signal`,
 * no `timeout`). So the limit is enforced by coreutils `timeout` (present on every Linux runner) run
 * through @actions/exec: it sends SIGTERM at the limit and SIGKILL 5 s later, so nothing is left
 * running. Where `timeout` is not on PATH (a macOS laptop), the tool runs directly and the wait gives
 * up at the limit: the caller gets its answer, the stray process ends when the tool does.
 *
 * Nothing is echoed: @actions/exec prints the command line and streams the output unless `silent`, and
 * a command line can carry a secret (an `-e KEY=VALUE` of a container's environment), an output too
 * (a Docker credential helper's).
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

/**
 * How a tool gets its input. @actions/exec writes `input` to the child's stdin with no error listener,
 * so a tool that exits before reading it all (a credential helper failing at once) turns that write
 * into an EPIPE thrown out of the process. So `sh` takes the input first, whole (`cat` reads to the
 * end; the `x` keeps trailing newlines), then pipes it to the tool with the builtin printf: a tool
 * that does not read it costs printf a SIGPIPE, and the pipeline answers the tool's exit code.
 */
const FEED_INPUT = `input="$(cat; printf x)"; printf '%s' "\${input%x}" | "$@"`;

export interface RunToolOptions {
  /** Stops the tool after this long (see the module comment). */
  timeoutMs?: number;
  /** The tool's whole environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Written to the tool's stdin (see FEED_INPUT). */
  input?: string;
}

/** Runs `tool args`, collecting its output. */
export async function runTool(
  tool: string,
  args: string[],
  opts: RunToolOptions = {},
): Promise<CommandResult> {
  const { timeoutMs } = opts;
  const exec: ExecOptions = {
    silent: true,
    ignoreReturnCode: true,
    ...(opts.env && { env: definedOnly(opts.env) }),
    ...(opts.input !== undefined && { input: Buffer.from(opts.input) }),
  };
  const [file, argv] =
    opts.input === undefined ? [tool, args] : ['sh', ['-c', FEED_INPUT, 'sh', tool, ...args]];
  const started = Date.now();
  const result = timeoutMs ? await withTimeoutTool(file, argv, timeoutMs, exec) : await run(file, argv, exec);
  if (timeoutMs && result.code !== 0 && Date.now() - started >= timeoutMs) {
    const note = `${[tool, args[0]].filter(Boolean).join(' ')} timed out after ${timeoutMs / 1000} s`;
    return { ...result, code: TIMED_OUT, stderr: [result.stderr.trim(), note].filter(Boolean).join('\n') };
  }
  return result;
}

async function withTimeoutTool(
  tool: string,
  args: string[],
  timeoutMs: number,
  exec: ExecOptions,
): Promise<CommandResult> {
  const limit = `${timeoutMs / 1000}s`;
  const r = await run('timeout', [`--kill-after=${KILL_AFTER_S}s`, limit, tool, ...args], exec);
  if (r.code !== NOT_FOUND || !r.stderr.startsWith('Unable to locate executable file: timeout.')) return r;
  // No coreutils `timeout`: wait at most the limit.
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<CommandResult>((resolve) => {
    timer = setTimeout(() => resolve({ code: TIMED_OUT, stdout: '', stderr: '' }), timeoutMs);
  });
  return Promise.race([run(tool, args, exec), gaveUp]).finally(() => clearTimeout(timer));
}

async function run(tool: string, args: string[], exec: ExecOptions): Promise<CommandResult> {
  try {
    const r = await getExecOutput(tool, args, exec);
    return { code: r.exitCode, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    // The tool is not on PATH (@actions/exec looks it up before spawning) or could not be started.
    return { code: NOT_FOUND, stdout: '', stderr: e instanceof Error ? e.message : String(e) };
  }
}

const definedOnly = (env: NodeJS.ProcessEnv): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
