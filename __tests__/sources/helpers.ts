/** Shared test helpers for the model-source suites: a capturing logger, temp dirs, blob uploads. */
import { ContainerClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../src/util/log.js';
import type { RetryOptions } from '../../src/util/retry.js';

export interface CapturedLogger extends Logger {
  /** Every printed line (info, warning, debug). */
  lines: string[];
  /** Every value registered with secret(). */
  secrets: Set<string>;
  text(): string;
}

export function captureLogger(): CapturedLogger {
  const lines: string[] = [];
  const secrets = new Set<string>();
  return {
    lines,
    secrets,
    info: (m) => lines.push(`info: ${m}`),
    warning: (m) => lines.push(`warning: ${m}`),
    debug: (m) => lines.push(`debug: ${m}`),
    secret: (v) => secrets.add(v),
    text: () => lines.join('\n'),
  };
}

/** Fast retries for tests (Retry-After still honoured up to maxDelayMs). */
export const fastRetry: RetryOptions = {
  attempts: 5,
  baseDelayMs: 20,
  maxDelayMs: 1500,
  totalBudgetMs: 30_000,
};

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `pom-sources-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export async function createContainer(
  blobEndpoint: string,
  accountName: string,
  accountKey: string,
  name: string,
): Promise<ContainerClient> {
  const container = new ContainerClient(
    `${blobEndpoint}/${name}`,
    new StorageSharedKeyCredential(accountName, accountKey),
  );
  await container.createIfNotExists();
  return container;
}

export async function upload(
  container: ContainerClient,
  name: string,
  data: string | Buffer,
  metadata?: Record<string, string>,
): Promise<void> {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  await container.getBlockBlobClient(name).uploadData(body, { metadata });
}
