/**
 * Debian's docker-registry (distribution 2.8, `docker-registry serve CONFIG`) on loopback, one instance
 * per call, in one of three auth modes: none, htpasswd (Basic, bcrypt entries), or token (Bearer, like
 * GHCR: 401 + `WWW-Authenticate: Bearer realm,service,scope`, tokens from ./token-service.ts).
 */
import bcrypt from 'bcryptjs';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  freePort,
  makeTempDir,
  onProcessExit,
  removeDir,
  removeDirSync,
  requireCommand,
  startService,
  type Service,
} from './proc.js';
import { startTokenService, type IssuedToken, type TokenService } from './token-service.js';

export interface LocalRegistry {
  /** 127.0.0.1:PORT */
  host: string;
  /** http://127.0.0.1:PORT */
  url: string;
  auth: 'none' | 'htpasswd' | 'token';
  /** A user with push and pull ("pusher"). With auth 'none' any credentials pass. */
  username: string;
  password: string;
  /** Token mode: the token service grants this user pull only. (htpasswd cannot restrict: full access.) */
  readOnly: { username: string; password: string };
  tokenService?: { realm: string; service: string; issued(): IssuedToken[] };
  /** The registry's storage root (filesystem driver), for tests that inspect what was stored. */
  storageDir: string;
  stop(): Promise<void>;
}

const TOKEN_SERVICE_NAME = 'package-onnx-model-test-registry';

function registryConfig(opts: {
  port: number;
  storageDir: string;
  auth: Record<string, unknown> | undefined;
}): string {
  // docker-registry reads YAML; JSON is YAML, so no YAML writer is needed.
  return JSON.stringify(
    {
      version: '0.1',
      log: { level: 'warn', accesslog: { disabled: true }, formatter: 'text' },
      storage: {
        filesystem: { rootdirectory: opts.storageDir },
        delete: { enabled: true },
        maintenance: { uploadpurging: { enabled: false } },
      },
      http: {
        addr: `127.0.0.1:${opts.port}`,
        secret: randomBytes(16).toString('hex'),
        headers: { 'X-Content-Type-Options': ['nosniff'] },
      },
      ...(opts.auth ? { auth: opts.auth } : {}),
    },
    null,
    2,
  );
}

/** Polls `GET /v2/` until the registry answers (200 or 401). */
async function waitForRegistry(svc: Service, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void svc.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`docker-registry exited at start. Output:\n${svc.output().slice(-4000)}`);
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status === 200 || res.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(
        `docker-registry not ready after ${timeoutMs} ms. Output:\n${svc.output().slice(-4000)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const secret = (): string => randomBytes(12).toString('hex');

export async function startRegistry(opts: { auth: 'none' | 'htpasswd' | 'token' }): Promise<LocalRegistry> {
  const binary = requireCommand('docker-registry', 'docker-registry');
  const dir = await makeTempDir(`registry-${opts.auth}`);
  const removeAtExit = onProcessExit(() => removeDirSync(dir));
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir);
  const pusher = { username: 'pusher', password: secret() };
  const reader = { username: 'reader', password: secret() };

  let tokenService: TokenService | undefined;
  let auth: Record<string, unknown> | undefined;
  try {
    if (opts.auth === 'htpasswd') {
      const htpasswd = join(dir, 'htpasswd');
      const entries = [pusher, reader].map((u) => `${u.username}:${bcrypt.hashSync(u.password, 6)}`);
      await writeFile(htpasswd, entries.join('\n') + '\n', { mode: 0o600 });
      auth = { htpasswd: { realm: 'package-onnx-model-test', path: htpasswd } };
    } else if (opts.auth === 'token') {
      tokenService = await startTokenService({
        dir,
        service: TOKEN_SERVICE_NAME,
        users: [
          { ...pusher, actions: ['pull', 'push', 'delete'] },
          { ...reader, actions: ['pull'] },
        ],
      });
      auth = {
        token: {
          realm: tokenService.realm,
          service: tokenService.service,
          issuer: tokenService.issuer,
          rootcertbundle: tokenService.certPath,
        },
      };
    }

    // docker-registry cannot listen on port 0 and report it: pick a free port, retry if it was taken.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const configPath = join(dir, 'config.yml');
      await writeFile(configPath, registryConfig({ port, storageDir, auth }));
      const svc = startService(binary, ['serve', configPath], { cwd: dir });
      const url = `http://127.0.0.1:${port}`;
      try {
        await waitForRegistry(svc, url, 30_000);
      } catch (e) {
        await svc.stop();
        if (attempt < 4 && /address already in use/i.test(svc.output())) continue;
        throw e;
      }
      const ts = tokenService;
      return {
        host: `127.0.0.1:${port}`,
        url,
        auth: opts.auth,
        username: pusher.username,
        password: pusher.password,
        readOnly: reader,
        ...(ts ? { tokenService: { realm: ts.realm, service: ts.service, issued: () => ts.issued() } } : {}),
        storageDir,
        async stop() {
          await svc.stop();
          await ts?.stop();
          await removeDir(dir);
          removeAtExit();
        },
      };
    }
  } catch (e) {
    await tokenService?.stop();
    await removeDir(dir);
    removeAtExit();
    throw e;
  }
}
