/**
 * The test environment: real services on loopback, started and stopped per suite.
 * Each start* picks a free 127.0.0.1 port, works in its own temp dir, and its stop() kills the process
 * and removes the dir. A missing Debian package fails with an error naming it; nothing is skipped.
 */
export { startAzurite, type Azurite, type AzuriteOptions } from './azurite.js';
export { startFaultProxy, type FaultProxy, type FaultRule, type ProxiedRequest } from './fault-proxy.js';
export { startRegistry, type LocalRegistry } from './registry.js';
export type { IssuedToken } from './token-service.js';
export { startDocker, type DockerEngine, type DockerResult } from './docker.js';
export { ensureBaseImage, pushBaseImage, BASE_IMAGE_DIR } from './base-image.js';
export { elfMachine, elfMachineName } from '../../scripts/base-image/platforms.js';
