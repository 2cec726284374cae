/**
 * Graceful shutdown on SIGTERM/SIGINT: readiness turns false at once, the listener stops accepting,
 * every admitted request is answered (bounded by SHUTDOWN_TIMEOUT_MS), workers stop, exit code 0
 * (1 when the timeout forced the exit with work still running).
 */
export interface ShutdownDeps {
  timeoutMs: number;
  log: { info(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /** Marks the server not ready (health/ready answers 503 from now on). */
  markStopping(): void;
  /** Stops accepting connections and resolves when in-flight HTTP requests are answered. */
  closeHttp(): Promise<void>;
  /** Resolves when every admitted inference has finished. */
  drain(): Promise<void>;
  /** Stops the inference workers. */
  closeWorkers(): Promise<void>;
  exit(code: number): void;
}

export function installShutdown(deps: ShutdownDeps, signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): void {
  let started = false;
  const run = async (signal: NodeJS.Signals): Promise<void> => {
    if (started) return;
    started = true;
    deps.log.info({ signal, timeoutMs: deps.timeoutMs }, 'shutting down: finishing in-flight requests');
    deps.markStopping();
    const timer = setTimeout(() => {
      deps.log.error({ timeoutMs: deps.timeoutMs }, 'shutdown timed out with requests still running');
      deps.exit(1);
    }, deps.timeoutMs);
    try {
      await Promise.all([deps.closeHttp(), deps.drain()]);
      await deps.closeWorkers();
      clearTimeout(timer);
      deps.log.info({}, 'shutdown complete');
      deps.exit(0);
    } catch (err) {
      clearTimeout(timer);
      deps.log.error({ error: (err as Error).message }, 'shutdown failed');
      deps.exit(1);
    }
  };
  for (const s of signals) process.on(s, (sig: NodeJS.Signals) => void run(sig));
}
