/**
 * Server runtime staging: public API.
 *
 *   stageRuntime(platform: string, opts: StageOptions): Promise<StagedRuntime>
 *     A directory (cached by content) with the server bundle, package.json and node_modules/
 *     {onnxruntime-node (that platform's binaries only), onnxruntime-common}. `node <dir>/index.js`
 *     with MODEL_DIR runs the server on a matching host (the process smoke test uses hostPlatform()).
 *   hostPlatform(): string                 'linux/amd64' on an x64 Linux runner.
 *   findServerBundle(from?): string        server-template/dist, found upward from this module's URL.
 *   defaultCacheDir(): string              $RUNNER_TOOL_CACHE/package-onnx-model or ~/.cache/...
 *   provideRuntimes(o): {platform: Promise<{dir?, layer?, files?}>}
 *                                          each platform's runtime from a verified registry layer whose
 *                                          diff_id the action ships (no npm; unpacked only for the
 *                                          host), else stageRuntime; each ready on its own.
 *   loadShippedRuntimeLayers(serverDir)    the shipped diff_ids (server-template/runtime-layers.json)
 *                                          when they match the server bundle present.
 */
export {
  stageRuntime,
  hostPlatform,
  findServerBundle,
  defaultCacheDir,
  ortArch,
  stagedFiles,
  type StageOptions,
  type StagedRuntime,
} from './stage.js';
export { provideRuntimes, type ProvideOptions, type ProvidedRuntime } from './provide.js';
export {
  computeRuntimeLayers,
  formatRuntimeLayers,
  loadShippedRuntimeLayers,
  runtimeLayersPath,
  RUNTIME_LAYERS_FILE,
  type RuntimeLayersFile,
  type ShippedLayer,
} from './shipped.js';
