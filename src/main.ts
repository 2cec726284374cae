/**
 * One packaging run, shared by the action (src/index.ts) and the CLI (src/cli.ts): read and mask the
 * inputs, run the pipeline, publish outputs and the summary, and turn any failure into one line that
 * says what failed and the fix.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isUserError } from './errors.js';
import { type InputName, readInputs, type RunContext, SECRET_INPUTS } from './inputs.js';
import { type BuiltImageInfo, packageModel, type PipelineDeps } from './pipeline.js';
import { buildOutputs, buildSummary, type PackageResult } from './report.js';
import type { Logger } from './util/log.js';
import { maskUrlSecrets } from './util/url.js';
import { createDeps, type WiringOptions } from './wiring.js';

export interface RunIO {
  getInput(name: InputName): string;
  logger: Logger;
  setOutput(name: string, value: string): void;
  writeSummary(markdown: string): Promise<void>;
  fail(message: string): void;
  /** core.getIDToken in the action; absent in the CLI. */
  getIdToken?: (audience: string) => Promise<string>;
  /** The workflow run: @actions/github's context in the action, flags and the environment in the CLI. */
  context: RunContext;
  env: NodeJS.ProcessEnv;
}

/** Masks a credential and, for a JSON document (the azure/login creds), every string inside it. */
export function maskCredential(value: string, logger: Logger): void {
  logger.secret(value);
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed && typeof parsed === 'object') {
      for (const v of Object.values(parsed as Record<string, unknown>)) {
        if (typeof v === 'string' && v.length >= 4) logger.secret(v);
      }
    }
  } catch {
    // not JSON: the whole value is masked already
  }
}

/**
 * One run: `makeDeps` builds the pipeline's I/O from the inputs (the real wiring by default; tests pass
 * their own).
 */
export async function run(
  io: RunIO,
  makeDeps: (w: WiringOptions) => PipelineDeps<BuiltImageInfo> = createDeps,
): Promise<PackageResult | undefined> {
  const workDir = await mkdtemp(join(io.env.RUNNER_TEMP || tmpdir(), 'package-onnx-model-'));
  try {
    const opts = readInputs((name) => {
      const value = io.getInput(name);
      if (value && SECRET_INPUTS.includes(name)) maskCredential(value, io.logger);
      // A model URL may carry a SAS: masked before the first log line can show it.
      if (value && name === 'model') maskUrlSecrets(value, io.logger);
      return value;
    });
    const deps = makeDeps({
      opts,
      logger: io.logger,
      workDir,
      env: io.env,
      actor: io.context.actor,
      getIdToken: io.getIdToken,
    });
    const result = await packageModel(opts, io.context, deps);
    for (const [name, value] of Object.entries(buildOutputs(result))) io.setOutput(name, value);
    await io.writeSummary(buildSummary(result));
    return result;
  } catch (e) {
    if (isUserError(e)) io.fail(e.toString());
    else {
      const err = e as Error;
      io.logger.debug(err.stack ?? String(err));
      io.fail(
        `Packaging failed unexpectedly: ${err.message ?? String(err)} Fix: Re-run with debug logging (ACTIONS_STEP_DEBUG=true) and report the log; nothing was pushed unless the log says so.`,
      );
    }
    return undefined;
  } finally {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
