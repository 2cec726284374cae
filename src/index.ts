// The action's entry point (runs.main: dist/index.js): inputs from the runner, the pipeline, outputs,
// the job summary, and one error line with the fix when anything fails.
import * as core from '@actions/core';
import { run } from './main.js';
import { escapeLogLine } from './util/log.js';

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
  env: process.env,
});
