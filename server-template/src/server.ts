/**
 * Startup of the HTTP thread: settings, model directory, worker pool (model load), text pipeline,
 * listener, warm-up, readiness, shutdown. Every startup problem ends the process with exit code 1 and
 * one stderr line naming the file or setting and the fix.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildApp } from './app.js';
import { ConfigError, parseConfig } from './config.js';
import { Metrics } from './metrics.js';
import { defaultModelName, readModelDir, StartupError } from './model-dir.js';
import { fixedCostTokens, InlineRunner, PAUSED, timeOneText } from './inline.js';
import { stdoutLines } from './log-lines.js';
import { type InferenceRunner, WorkerPool } from './pool.js';
import type { WorkerInit } from './protocol.js';
import { InferenceService } from './service.js';
import { installShutdown } from './shutdown.js';
import { planTextFeeds, TextPipeline } from './text.js';

function fail(message: string): never {
  process.stderr.write(`startup error: ${message}\n`);
  process.exit(1);
}

/** Starts the server; `entryUrl` is the module that starts inference workers (the bundle itself). */
export async function startServer(entryUrl: URL): Promise<void> {
  let config;
  try {
    config = parseConfig(process.env, availableParallelism());
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  let stopping = false;
  let serving = false;
  try {
    try {
      createRequire(entryUrl).resolve('onnxruntime-node');
    } catch {
      throw new StartupError(
        `onnxruntime-node is not installed next to ${fileURLToPath(entryUrl)}; fix: put node_modules/onnxruntime-node (and onnxruntime-common) for this platform in ${dirname(fileURLToPath(entryUrl))}`,
      );
    }
    const files = await readModelDir(config.modelDir, config.modelFile);
    const name = config.modelName ?? defaultModelName(files);
    const metrics = new Metrics(name, config.modelVersion);
    let onFree = (): void => {};
    const init: WorkerInit = {
      role: 'inference-worker',
      onnxPath: files.onnxPath,
      sessionThreads: config.sessionThreads,
    };
    const pool = new WorkerPool({
      // One inference thread, one session: one copy of the weights whatever the cores (its intra-op
      // threads use them all); a second session would double the memory and, measured, not the speed.
      size: 1,
      spawn: () => new Worker(entryUrl, { workerData: init }),
      log: { info: () => {}, error: () => {} },
      onFree: () => onFree(),
      onRestart: () => metrics.workerRestarts.inc(),
      onnxPath: files.onnxPath,
    });
    // Where batches run: the inference thread, or the HTTP thread once a fast model moves there.
    let runner: InferenceRunner = pool;
    const model = await pool.start();
    metrics.modelLoad.set(model.loadSeconds);
    let text: TextPipeline | undefined;
    if (files.tokenizerJson !== undefined) {
      text = new TextPipeline(files, planTextFeeds(model.inputs, files.onnxPath), config.maxSequenceLength);
    }
    const service = new InferenceService({ config, files, pool, model, text, metrics, name });
    onFree = () => service.pump();
    metrics.sources.servingWorkers = () => runner.serving();
    const app = buildApp({
      config,
      service,
      metrics,
      health: { live: () => true, ready: () => serving && !stopping && runner.serving() > 0 },
      stopping: () => stopping,
      logLines: stdoutLines(),
    });
    const log = app.log;
    const cores = availableParallelism();
    if (config.sessionThreads > cores) {
      log.warn(
        { sessionThreads: config.sessionThreads, cores },
        'WORKERS x INTRA_OP_THREADS exceeds the CPU count: threads will compete; lower one of them',
      );
    }
    pool.setLog({
      info: (obj, msg) => log.info(obj, msg),
      error: (obj, msg) => log.error(obj, msg),
    });
    installShutdown({
      timeoutMs: config.shutdownTimeoutMs,
      log: { info: (o, m) => log.info(o, m), error: (o, m) => log.error(o, m) },
      markStopping: () => {
        stopping = true;
      },
      closeHttp: async () => {
        // Idle keep-alive connections would keep close() waiting: drop them as they go idle.
        const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
        try {
          await app.close();
        } finally {
          clearInterval(sweep);
        }
      },
      drain: () => service.drain(),
      closeWorkers: async () => {
        service.stop();
        await runner.close();
      },
      exit: (code) => process.exit(code),
    });
    try {
      await app.listen({ port: config.port, host: config.host });
    } catch (err) {
      throw new StartupError(
        `cannot listen on ${config.host}:${config.port} (${(err as Error).message}); fix: set PORT to a free port or HOST to an address of this machine`,
      );
    }
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const warm = await pool.warmup(service.warmupFeeds());
    service.setWarmupResult(warm);
    const oneTextMs =
      config.inlineInferenceMs > 0 ? await timeOneText(pool, () => service.warmupFeeds(1)) : undefined;
    if (oneTextMs !== undefined && oneTextMs <= config.inlineInferenceMs && pool.busy() === 0) {
      // Cheaper than the hop between threads: move the one session to this thread. The inference
      // thread's session goes first, so there is never a second copy of the weights.
      service.useRunner(PAUSED);
      await pool.close();
      try {
        runner = await InlineRunner.open(files.onnxPath, config.sessionThreads, () => onFree());
        await runner.run(service.warmupFeeds());
      } catch (err) {
        throw new StartupError(
          `${files.onnxPath} ran on the inference thread but not on the HTTP thread (${(err as Error).message}); fix: set INLINE_INFERENCE_MS=0 to keep it on the inference thread`,
        );
      }
      service.useRunner(runner);
      onFree();
    }
    // The padding budget, timed on the HTTP thread's session only: a slower model's batch of long texts
    // would hold up its start.
    const probe = config.paddingFromCost && runner !== pool ? service.paddingProbe() : undefined;
    const paddingTokens = probe === undefined ? undefined : await fixedCostTokens(runner, probe);
    if (paddingTokens !== undefined) service.setMaxPaddingTokens(paddingTokens);
    serving = true;
    log.info(
      {
        port,
        host: config.host,
        modelName: name,
        modelVersion: config.modelVersion,
        text: text !== undefined,
        labels: service.info.labels,
        sessionThreads: config.sessionThreads,
        inferenceOn: runner === pool ? 'inference thread' : 'HTTP thread',
        oneTextMs: oneTextMs === undefined ? undefined : Math.round(oneTextMs * 1000) / 1000,
        maxBatchSize: config.maxBatchSize,
        maxPadding: config.maxPaddingFraction,
        paddingBudget:
          paddingTokens === undefined
            ? undefined
            : Number.isFinite(paddingTokens)
              ? `${Math.round(paddingTokens)} tokens`
              : 'any',
        batching: service.batches,
        loadSeconds: Math.round(model.loadSeconds * 1000) / 1000,
      },
      'ready',
    );
  } catch (err) {
    if (err instanceof StartupError) fail(err.message);
    throw err;
  }
}
