/**
 * The `tokenizer` input: the Hugging Face tokenizer files a bare .onnx model needs to take text, from
 * a Hub repository (`FacebookAI/roberta-base`, `FacebookAI/roberta-base@e2c8b7a1`), an https URL of a
 * tokenizer.json or a local file or folder. The files land next to the model's .onnx file, where the
 * server looks for them.
 *
 * The Hub is read the way its own clients read it: `GET {endpoint}/{repo}/resolve/{revision}/{file}`,
 * answered with redirects, relative ones (`/api/resolve-cache/...`, same host) and absolute ones (a CDN
 * host). They are followed by hand rather than by fetch's `redirect: 'follow'`, because fetch would
 * carry the `Authorization` header to the CDN host and would follow a redirect to plain http; here the
 * token goes to the endpoint's origin only and every hop must be https. The commit the Hub reports
 * (`X-Repo-Commit`) is recorded, and the optional files are fetched at that commit, so every file comes
 * from one commit even when the branch moves meanwhile.
 */
import { cp, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { httpsGet } from '../util/https-get.js';
import type { Logger } from '../util/log.js';
import {
  RetryableError,
  isRetryableStatus,
  parseRetryAfter,
  withRetry,
  type RetryOptions,
} from '../util/retry.js';
import { downloadUrl } from './https-download.js';

export const DEFAULT_HUGGINGFACE_ENDPOINT = 'https://huggingface.co';

/** As the Hub's own clients: the `huggingface-endpoint` input, else HF_ENDPOINT, else the public Hub. */
export function huggingfaceEndpoint(input: string | undefined, env: NodeJS.ProcessEnv): string {
  return input ?? (env.HF_ENDPOINT || DEFAULT_HUGGINGFACE_ENDPOINT);
}

/** tokenizer.json is required; the other two refine it (special tokens, max length) when present. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export type TokenizerRef =
  | { kind: 'hub'; repo: string; revision: string }
  | { kind: 'url'; url: string }
  | { kind: 'local'; path: string };

/** What was fetched, for the image labels and the metadata output. */
export interface TokenizerInfo {
  /** `hf://repo@revision`, the URL without its query, or the local path as given. */
  source: string;
  files: string[];
  repo?: string;
  revision?: string;
  /** The commit the Hub resolved the revision to (X-Repo-Commit). */
  commit?: string;
}

// The Hub's repo ids: an optional namespace and a name of letters, digits, '-', '_' and '.'.
const HUB_ID = /^(?:[A-Za-z0-9][\w.-]{0,95}\/)?[A-Za-z0-9][\w.-]{0,95}$/;
const REVISION = /^[\w./-]{1,200}$/;

/**
 * Parses the `tokenizer` input. `isLocal` says whether a value exists on disk: a folder named like a
 * Hub id (`tokenizers/roberta`) is taken as the local path it is.
 */
export function parseTokenizerRef(value: string, isLocal: (path: string) => boolean): TokenizerRef {
  const v = value.trim();
  if (/^https:\/\//i.test(v)) return { kind: 'url', url: v };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    throw new UserError(
      `Input 'tokenizer' is '${v}': only https URLs are accepted.`,
      'Use an https:// URL of a tokenizer.json, a Hugging Face Hub repository id (org/name[@revision]) or a local path.',
    );
  }
  if (/^[./~]/.test(v) || v.endsWith('.json') || v.includes('\\') || isLocal(v)) {
    return { kind: 'local', path: v };
  }
  const at = v.indexOf('@');
  const repo = at < 0 ? v : v.slice(0, at);
  const revision = at < 0 ? 'main' : v.slice(at + 1);
  if (!HUB_ID.test(repo) || !REVISION.test(revision) || revision.includes('..')) {
    throw new UserError(
      `Input 'tokenizer' is '${v}', which is neither a Hugging Face Hub repository id nor an existing path.`,
      "Use 'org/name' or 'org/name@revision' (e.g. FacebookAI/roberta-base), an https:// URL of a tokenizer.json, or a path to a tokenizer.json or a folder holding one.",
    );
  }
  return { kind: 'hub', repo, revision };
}

export interface TokenizerFetchOptions {
  /** The folder the files are written to (the model's folder). */
  destDir: string;
  endpoint: string;
  token?: string;
  logger: Logger;
  retry?: RetryOptions;
  fetch?: typeof fetch;
}

/** Fetches the tokenizer files into `destDir`. */
export async function fetchTokenizer(ref: TokenizerRef, opts: TokenizerFetchOptions): Promise<TokenizerInfo> {
  await mkdir(opts.destDir, { recursive: true });
  switch (ref.kind) {
    case 'hub':
      return fromHub(ref, opts);
    case 'url':
      return fromUrl(ref.url, opts);
    case 'local':
      return fromLocal(ref.path, opts.destDir);
  }
}

async function fromLocal(path: string, destDir: string): Promise<TokenizerInfo> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new UserError(
      `The tokenizer path '${path}' does not exist.`,
      'Check the path (relative paths start at the working directory), or give a Hub repository id or an https URL.',
    );
  }
  const files: string[] = [];
  if (info.isFile()) {
    await cp(path, join(destDir, 'tokenizer.json'), { dereference: true });
    files.push('tokenizer.json');
  } else {
    for (const name of TOKENIZER_FILES) {
      const from = join(path, name);
      const exists = await stat(from).then(
        (s) => s.isFile(),
        () => false,
      );
      if (exists) {
        await cp(from, join(destDir, name), { dereference: true });
        files.push(name);
      } else if (name === 'tokenizer.json') {
        throw new UserError(
          `The tokenizer folder '${path}' has no tokenizer.json.`,
          'Point at a folder saved with a fast tokenizer (tokenizer.save_pretrained) or at the tokenizer.json itself.',
        );
      }
    }
  }
  return { source: path, files };
}

async function fromUrl(url: string, opts: TokenizerFetchOptions): Promise<TokenizerInfo> {
  const tmp = join(opts.destDir, '.tokenizer-download');
  await rm(tmp, { recursive: true, force: true });
  const file = await downloadUrl(url, {
    destDir: tmp,
    logger: opts.logger,
    retry: opts.retry,
    fetch: opts.fetch,
  });
  await rename(join(tmp, file.path), join(opts.destDir, 'tokenizer.json'));
  await rm(tmp, { recursive: true, force: true });
  const u = new URL(url);
  return { source: `${u.origin}${u.pathname}`, files: ['tokenizer.json'] };
}

/** The most a tokenizer file may weigh (the largest Hub tokenizers are tens of MB). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

interface HubAnswer {
  status: number;
  body?: Buffer;
  commit?: string;
  errorCode?: string;
  errorMessage?: string;
}

async function fromHub(
  ref: { repo: string; revision: string },
  opts: TokenizerFetchOptions,
): Promise<TokenizerInfo> {
  const endpoint = new URL(opts.endpoint);
  if (endpoint.protocol !== 'https:') {
    throw new UserError(
      `The Hugging Face endpoint '${opts.endpoint}' is not https.`,
      "Set 'huggingface-endpoint' (or HF_ENDPOINT) to an https:// URL, e.g. https://huggingface.co.",
    );
  }
  const base = opts.endpoint.replace(/\/+$/, '');
  const where = `${ref.repo}@${ref.revision}`;
  const files: string[] = [];
  let commit: string | undefined;
  for (const name of TOKENIZER_FILES) {
    // After the first file, the commit pins the rest.
    const revision = commit ?? ref.revision;
    const url = `${base}/${ref.repo}/resolve/${encodeURIComponent(revision)}/${name}`;
    const answer = await withRetry(() => hubGet(url, endpoint.origin, opts), {
      ...opts.retry,
      onRetry: (i) => opts.logger.info(`${i.reason}; retrying in ${(i.delayMs / 1000).toFixed(1)}s.`),
    }).catch((e: unknown) => {
      if (e instanceof UserError) throw e;
      throw new UserError(
        `Fetching ${name} of ${where} from ${base} failed: ${(e as Error).message}.`,
        'Re-run the job; if it persists, check that the Hugging Face endpoint is reachable from the runner.',
        { cause: e },
      );
    });
    commit ??= answer.commit;
    if (answer.status === 200 && answer.body) {
      await writeFile(join(opts.destDir, name), answer.body);
      files.push(name);
      continue;
    }
    if (answer.errorCode === 'EntryNotFound' && name !== 'tokenizer.json') continue;
    throw hubError(answer, { ...ref, file: name, base, token: Boolean(opts.token) });
  }
  opts.logger.info(
    `Tokenizer ${where}${commit ? ` (commit ${commit})` : ''} from ${base}: ${files.join(', ')}.`,
  );
  return { source: `${base}/${where}`, files, repo: ref.repo, revision: ref.revision, commit };
}

/** One GET through `httpsGet`: https redirects only, the token for the endpoint's origin only. */
async function hubGet(url: string, origin: string, opts: TokenizerFetchOptions): Promise<HubAnswer> {
  let commit: string | undefined;
  const { res, url: answered } = await httpsGet(url, {
    fetch: opts.fetch,
    request: (hop) => ({
      headers: {
        'user-agent': 'package-onnx-model',
        ...(opts.token && hop.origin === origin ? { authorization: `Bearer ${opts.token}` } : {}),
      },
    }),
    headersTimeoutMs: 60_000,
    onResponse: (hopRes, hop) => {
      const reported = hopRes.headers.get('x-repo-commit');
      if (reported && /^[0-9a-f]{40}$/.test(reported) && hop.origin === origin) commit ??= reported;
    },
    refuse: (r) =>
      r.kind === 'not-https'
        ? new UserError(
            `The Hugging Face Hub redirected ${url} to ${r.to.origin}${r.to.pathname}, which is not https.`,
            'Check huggingface-endpoint; the action follows https redirects only.',
          )
        : new RetryableError(
            r.kind === 'too-many'
              ? `GET ${url}: more than ${r.max} redirects`
              : `GET ${url}: a redirect from ${r.from.origin}${r.from.pathname} without a valid Location`,
          ),
  });
  if (isRetryableStatus(res.status)) {
    await res.body?.cancel();
    throw new RetryableError(
      `GET ${answered.origin}${answered.pathname} returned ${res.status}`,
      parseRetryAfter(res.headers.get('retry-after')),
    );
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    let message = res.headers.get('x-error-message') ?? undefined;
    try {
      const parsed = JSON.parse(text) as { error?: unknown };
      if (typeof parsed.error === 'string') message = parsed.error;
    } catch {
      // not JSON: the header (or nothing) describes it
    }
    return {
      status: res.status,
      commit,
      errorCode: res.headers.get('x-error-code') ?? undefined,
      errorMessage: message,
    };
  }
  const length = Number(res.headers.get('content-length') ?? '0');
  if (length > MAX_FILE_BYTES) {
    await res.body?.cancel();
    throw new UserError(
      `${url} is ${length} bytes, more than a tokenizer file may be (${MAX_FILE_BYTES}).`,
      'Check the tokenizer repository.',
    );
  }
  return { status: 200, body: Buffer.from(await res.arrayBuffer()), commit };
}

function hubError(
  a: HubAnswer,
  r: { repo: string; revision: string; file: string; base: string; token: boolean },
): UserError {
  const said = a.errorMessage ? ` (the Hub said: ${a.errorMessage})` : '';
  switch (a.errorCode) {
    case 'RepoNotFound':
      return new UserError(
        `The Hugging Face repository '${r.repo}' was not found at ${r.base}, or it is private${said}.`,
        r.token
          ? "Check the repository id in 'tokenizer', and that 'huggingface-token' can read it."
          : "Check the repository id in 'tokenizer'; for a private repository set 'huggingface-token'.",
      );
    case 'RevisionNotFound':
      return new UserError(
        `The Hugging Face repository '${r.repo}' has no revision '${r.revision}'${said}.`,
        "Name a branch, tag or commit of the repository after '@' in 'tokenizer', or leave it out for main.",
      );
    case 'EntryNotFound':
      return new UserError(
        `The Hugging Face repository '${r.repo}' has no ${r.file} at '${r.revision}'${said}.`,
        'Use a repository with a fast tokenizer (tokenizer.json), e.g. the base model the ONNX model was exported from.',
      );
    case 'GatedRepo':
      return new UserError(
        `The Hugging Face repository '${r.repo}' is gated${said}.`,
        "Accept its conditions on the Hub with your account, and set 'huggingface-token' to a token of that account.",
      );
  }
  if (a.status === 401 || a.status === 403) {
    return new UserError(
      `The Hugging Face Hub refused ${r.file} of '${r.repo}' (HTTP ${a.status})${said}.`,
      r.token
        ? "'huggingface-token' is invalid or cannot read this repository: create a read token at huggingface.co/settings/tokens."
        : "set 'huggingface-token' to a token that can read the repository.",
    );
  }
  return new UserError(
    `Fetching ${r.file} of '${r.repo}@${r.revision}' from ${r.base} failed: HTTP ${a.status}${said}.`,
    'Check the tokenizer input and the Hugging Face endpoint.',
  );
}

/** The labels an image records about its tokenizer, so it pins what it got. */
export function tokenizerLabels(t: TokenizerInfo): Record<string, string> {
  const prefix = 'io.github.package-onnx-model.tokenizer';
  return {
    [`${prefix}.source`]: t.source,
    ...(t.commit && { [`${prefix}.revision`]: t.commit }),
  };
}
