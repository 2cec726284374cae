/**
 * Progress lines for long transfers: at most one every few seconds (bytes, percent, MB/s, ETA), then a
 * summary. The clock is injected so tests can drive it.
 */
import type { Logger } from './log.js';

export interface Progress {
  /** Bytes received (negative to take back bytes of a failed attempt that will be fetched again). */
  add(bytes: number): void;
  /** Logs the summary line. */
  done(): void;
}

export interface ProgressOptions {
  /** e.g. "model sentiment" */
  label: string;
  totalBytes: number;
  files: number;
  logger: Logger;
  /** Minimum time between lines. Default 5 s. */
  intervalMs?: number;
  now?: () => number;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

const rate = (bytes: number, ms: number): string =>
  `${(bytes / 1024 / 1024 / Math.max(ms / 1000, 0.001)).toFixed(1)} MB/s`;

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? Date.now;
  const interval = opts.intervalMs ?? 5000;
  const started = now();
  let last = started;
  let received = 0;
  return {
    add(bytes) {
      received += bytes;
      const t = now();
      if (t - last < interval || received >= opts.totalBytes) return;
      last = t;
      const elapsed = t - started;
      const pct = opts.totalBytes > 0 ? Math.floor((received / opts.totalBytes) * 100) : 0;
      const speed = received / Math.max(elapsed, 1);
      const eta = speed > 0 ? (opts.totalBytes - received) / speed : 0;
      opts.logger.info(
        `Downloading ${opts.label}: ${formatBytes(received)} of ${formatBytes(opts.totalBytes)} (${pct}%), ` +
          `${rate(received, elapsed)}, ETA ${formatDuration(eta)}`,
      );
    },
    done() {
      const elapsed = now() - started;
      opts.logger.info(
        `Downloaded ${opts.label}: ${opts.files} file${opts.files === 1 ? '' : 's'}, ${formatBytes(received)} in ` +
          `${(elapsed / 1000).toFixed(1)}s (${rate(received, elapsed)})`,
      );
    },
  };
}
