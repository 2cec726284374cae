/**
 * Which registry credentials go to which host. For a host, in order:
 *   1. the explicit inputs (`registry-username`/`registry-password`, or the `base-registry-*` pair);
 *   2. the Docker config that `docker login` / docker/login-action writes (`$DOCKER_CONFIG/config.json`,
 *      else `~/.docker/config.json`): `credHelpers[host]` or `credsStore` through
 *      `docker-credential-<name> get` when that helper is installed, else `auths[host]` (base64 `auth` or
 *      `username`/`password`);
 *   3. for `ghcr.io` only, the workflow's `GITHUB_TOKEN` (as `github.actor`);
 *   4. anonymous.
 * Every secret read is masked before anything can print it, and the source used is logged (never the
 * secret). The Docker config lookup follows docker/cli's `configfile` package (keys may carry a scheme
 * and a path; Docker Hub's key is `https://index.docker.io/v1/`); written here because no maintained npm
 * package reads it with credential helpers.
 */
import { constants } from 'node:fs';
import { access, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { UserError } from '../errors.js';
import { runTool } from '../util/exec.js';
import type { Logger } from '../util/log.js';
import type { RegistryCredentials } from './auth.js';
import { DOCKER_HUB } from './reference.js';

export const GITHUB_REGISTRY = 'ghcr.io';
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export interface CredentialSources {
  /** The explicit inputs for this host, with their names for messages. */
  explicit?: { username?: string; password?: string; names: [string, string] };
  /** `github.actor` / `github.token`: sent to ghcr.io only. */
  github?: { actor?: string; token?: string };
  /** For DOCKER_CONFIG, PATH and HOME. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** How long a credential helper may take (default 30 s). */
  helperTimeoutMs?: number;
}

export interface ResolvedCredentials {
  credentials?: Required<RegistryCredentials>;
  /** Where they came from, for the log: never the secret. */
  source: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** `https://host:port/v1/` → `host:port` (docker/cli's ConvertToHostname). */
function keyHost(key: string): string {
  return key
    .replace(/^https?:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
}

/** The config keys a host may be stored under; Docker Hub goes by several names. */
function hostNames(host: string): string[] {
  const h = host.toLowerCase();
  return h === DOCKER_HUB || h === 'index.docker.io' || h === 'registry-1.docker.io'
    ? ['index.docker.io', DOCKER_HUB, 'registry-1.docker.io']
    : [h];
}

function lookup<T>(map: Record<string, T> | undefined, host: string): T | undefined {
  if (!map) return undefined;
  const names = hostNames(host);
  for (const [key, value] of Object.entries(map)) if (names.includes(keyHost(key))) return value;
  return undefined;
}

export function dockerConfigPath(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_CONFIG
    ? join(env.DOCKER_CONFIG, 'config.json')
    : join(env.HOME || homedir(), '.docker', 'config.json');
}

async function readDockerConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (e) {
    throw new UserError(
      `The Docker config ${path} is not valid JSON (${(e as Error).message}).`,
      'Fix or remove the file (docker/login-action rewrites it), or set DOCKER_CONFIG to another folder.',
    );
  }
}

/** The helper executable on PATH, or undefined when it is not installed. */
async function findExecutable(name: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * `docker-credential-<name> get` with the server URL on stdin (the docker-credential-helpers protocol):
 * `{ServerURL, Username, Secret}` on stdout, or a non-zero exit with "credentials not found".
 */
async function runHelper(
  file: string,
  serverUrl: string,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ username: string; secret: string } | undefined> {
  // Silent (runTool): the helper's output is the secret.
  const r = await runTool(file, ['get'], { env, input: serverUrl, timeoutMs });
  if (r.code !== 0) {
    const text = `${r.stdout}${r.stderr}`.trim();
    if (/credentials not found/i.test(text)) return undefined;
    throw new Error(`exit ${r.code}: ${text.slice(0, 300)}`);
  }
  try {
    const j = JSON.parse(r.stdout) as { Username?: string; Secret?: string };
    return j.Secret ? { username: j.Username ?? '', secret: j.Secret } : undefined;
  } catch {
    throw new Error('it printed something that is not JSON');
  }
}

/** The Docker config's credentials for `host`, with a description of where they came from. */
export async function dockerConfigCredentials(
  host: string,
  sources: Pick<CredentialSources, 'env' | 'logger' | 'helperTimeoutMs'>,
): Promise<ResolvedCredentials | undefined> {
  const { env, logger } = sources;
  const path = dockerConfigPath(env);
  const config = await readDockerConfig(path);
  if (!config) return undefined;
  const identityToken = (where: string): undefined => {
    logger.warning(
      `The Docker config ${path} holds an identity token for ${host} (${where}), which this action cannot use; trying the next credential source.`,
    );
    return undefined;
  };

  const helper = lookup(config.credHelpers, host) ?? config.credsStore;
  if (helper) {
    const where = lookup(config.credHelpers, host) ? 'credHelpers' : 'credsStore';
    const name = `docker-credential-${helper}`;
    const file = await findExecutable(name, env);
    if (!file) {
      logger.info(`Docker config ${path} names ${name} (${where}), which is not installed; using its auths.`);
    } else {
      const serverUrl = hostNames(host)[0] === 'index.docker.io' ? DOCKER_HUB_KEY : host;
      const got = await runHelper(file, serverUrl, env, sources.helperTimeoutMs ?? 30_000).catch(
        (e: unknown) => {
          throw new UserError(
            `The credential helper ${name} (${where} in ${path}) failed for ${host}: ${(e as Error).message}.`,
            `Fix the helper (try \`echo ${serverUrl} | ${name} get\`), or log in with docker/login-action so the config holds the credentials itself.`,
          );
        },
      );
      if (got) {
        logger.secret(got.secret);
        if (got.username === '<token>') return identityToken(name);
        return {
          credentials: { username: got.username, password: got.secret },
          source: `${name} (${where} in ${path}), user '${got.username}'`,
        };
      }
      return undefined;
    }
  }

  const entry = lookup(config.auths, host);
  if (!entry) return undefined;
  if (entry.auth) {
    logger.secret(entry.auth);
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0 && colon < decoded.length - 1) {
      const password = decoded.slice(colon + 1);
      logger.secret(password);
      const username = decoded.slice(0, colon);
      return {
        credentials: { username, password },
        source: `Docker config ${path} (auths), user '${username}'`,
      };
    }
    logger.warning(
      `The Docker config ${path} has an auths entry for ${host} that is not base64 'user:password'; ignored.`,
    );
  }
  if (entry.username && entry.password) {
    logger.secret(entry.password);
    return {
      credentials: { username: entry.username, password: entry.password },
      source: `Docker config ${path} (auths), user '${entry.username}'`,
    };
  }
  if (entry.identitytoken) {
    logger.secret(entry.identitytoken);
    return identityToken('auths');
  }
  return undefined;
}

/** The credentials for `host`, from the first source that has them (see the module comment). */
export async function resolveRegistryCredentials(
  host: string,
  sources: CredentialSources,
): Promise<ResolvedCredentials> {
  const { explicit, github, logger } = sources;
  const resolved = await (async (): Promise<ResolvedCredentials> => {
    if (explicit && (explicit.username || explicit.password)) {
      const [userInput, passwordInput] = explicit.names;
      if (!explicit.password) {
        throw new UserError(
          `Input '${userInput}' is set but '${passwordInput}' is empty (a secret that is not available to this workflow run?).`,
          `Set '${passwordInput}' too, or neither to use docker/login-action's credentials${host === GITHUB_REGISTRY ? " (or the workflow's GITHUB_TOKEN)" : ''}.`,
        );
      }
      logger.secret(explicit.password);
      // A password alone (e.g. a PAT for ghcr.io) goes with the workflow's actor, as it always has.
      const username = explicit.username || github?.actor;
      if (!username) {
        throw new UserError(
          `Input '${passwordInput}' is set but '${userInput}' is empty.`,
          `Set '${userInput}' to the registry user the password belongs to.`,
        );
      }
      return {
        credentials: { username, password: explicit.password },
        source: `inputs ${userInput}/${passwordInput}, user '${username}'`,
      };
    }
    const fromConfig = await dockerConfigCredentials(host, sources);
    if (fromConfig) return fromConfig;
    if (host.toLowerCase() === GITHUB_REGISTRY && github?.token) {
      logger.secret(github.token);
      const username = github.actor || 'github-actions';
      return {
        credentials: { username, password: github.token },
        source: `the workflow's GITHUB_TOKEN (github-token input), user '${username}'`,
      };
    }
    return { source: 'none (anonymous)' };
  })();
  logger.info(`Registry credentials for ${host}: ${resolved.source}`);
  return resolved;
}
