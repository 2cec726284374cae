/**
 * Image references: `[registry/]namespace/name[:tag][@digest]`, with Docker's defaults (a first component
 * without '.' or ':' and other than `localhost` is a Docker Hub path; single names get `library/`).
 * Repository names are lowercased (GHCR rejects owners with capitals); tags are validated.
 */
import { UserError } from '../errors.js';

export interface ImageReference {
  /** Registry host as written (`ghcr.io`, `127.0.0.1:5000`, `docker.io`). */
  registry: string;
  /** Repository path, lowercased (`owner/model`, `library/node`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const HOST_RE = /^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::\d{1,5})?$/;

/** True when `tag` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`). */
export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Throws the named error for an invalid tag. */
export function assertValidTag(tag: string): void {
  if (!isValidTag(tag)) {
    throw new UserError(
      `Invalid image tag '${tag}': tags are 1-128 characters of letters, digits, '_', '.', '-', not starting with '.' or '-'.`,
      'Change the tag (for example replace "/" or "+" with "-").',
    );
  }
}

export function parseImageReference(ref: string): ImageReference {
  const input = ref.trim();
  const bad = (why: string): UserError =>
    new UserError(
      `Invalid image reference '${ref}': ${why}.`,
      'Use the form registry/namespace/name[:tag][@sha256:digest], e.g. ghcr.io/owner/model:1.',
    );
  if (!input) throw bad('it is empty');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw bad(`'${digest}' is not a sha256 digest`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    assertValidTag(tag);
  }
  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase();
    parts.shift();
    if (!HOST_RE.test(registry)) throw bad(`'${first}' is not a registry host`);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/').toLowerCase();
  for (const c of repository.split('/')) {
    if (!COMPONENT_RE.test(c)) throw bad(`'${c || '(empty)'}' is not a valid repository path component`);
  }
  if (repository.length > 255) throw bad('the repository name is longer than 255 characters');
  return { registry, repository, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** `registry/repository[:tag][@digest]`. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The host the distribution API is served from (Docker Hub's differs from its name). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

function hostname(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const i = registry.lastIndexOf(':');
  return i >= 0 ? registry.slice(0, i) : registry;
}

/** Loopback registries speak plain http, as Docker allows; so do hosts named in `insecure-registries`. */
export function isInsecureRegistry(registry: string, insecure: readonly string[] = []): boolean {
  const h = hostname(registry).toLowerCase();
  if (h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h)) return true;
  return insecure.some((i) => {
    const v = i
      .trim()
      .toLowerCase()
      .replace(/^https?:\/\//, '')
      .replace(/\/+$/, '');
    return v === registry.toLowerCase() || v === h;
  });
}

/** Base URL of the registry API: `http(s)://host`. */
export function registryBaseUrl(registry: string, insecure: readonly string[] = []): string {
  return `${isInsecureRegistry(registry, insecure) ? 'http' : 'https'}://${apiHost(registry)}`;
}
