// The action's entry point (runs.main: dist/index.js): inputs from the runner, the pipeline, outputs,
// the job summary, and one error line with the fix when anything fails.
import * as core from '@actions/core';
import { context } from '@actions/github';
import type { RunContext } from './inputs.js';
import { run } from './main.js';
import { escapeLogLine } from './util/log.js';

/** The run's repository, commit, actor and server from @actions/github (context.repo throws outside a repository). */
function runContext(): RunContext {
  let repository: string | undefined;
  try {
    repository = `${context.repo.owner}/${context.repo.repo}`;
  } catch {
    repository = undefined;
  }
  return {
    repository,
    sha: context.sha || undefined,
    actor: context.actor || undefined,
    serverUrl: context.serverUrl,
  };
}

await run({
  getInput: (name) => core.getInput(name),
  logger: {
    // core.info prints as given: escape it so untrusted text cannot inject workflow commands.
    info: (m) => core.info(escapeLogLine(m)),
    warning: (m) => core.warning(m),
    debug: (m) => core.debug(m),
    secret: (v) => core.setSecret(v),
    group: (title, fn) => core.group(title, fn), // core escapes the title itself
  },
  setOutput: (name, value) => core.setOutput(name, value),
  writeSummary: async (markdown) => {
    await core.summary.addRaw(markdown).write();
  },
  fail: (message) => core.setFailed(message),
  getIdToken: (audience) => core.getIDToken(audience),
  context: runContext(),
  env: process.env,
});
