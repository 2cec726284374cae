/**
 * The real I/O behind the pipeline's ports: Azure model sources, runtime staging, the image builder and
 * registry client, the host server process and the local Docker engine.
 */
import type { PackageOptions } from './inputs.js';
import type { PipelineDeps } from './pipeline.js';
import type { Logger } from './util/log.js';

export interface WiringOptions {
  opts: PackageOptions;
  logger: Logger;
  workDir: string;
  env: NodeJS.ProcessEnv;
  getIdToken?: (audience: string) => Promise<string>;
}

export function createDeps(_w: WiringOptions): PipelineDeps {
  throw new Error('The packaging stages are being wired up (model sources and image builder land separately).');
}
