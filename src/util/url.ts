/**
 * URLs that may carry secrets (a SAS query string, user info): the one place that decides what of a URL
 * may be shown and what must be masked. Every log line, error, output and label that shows a URL goes
 * through `displayUrl`; every URL read or received goes through `maskUrlSecrets` first.
 */
import type { Logger } from './log.js';

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*)@/i;

/**
 * A URL as shown to users: scheme, host and path, without user info, query string or fragment (which
 * may hold a SAS). Works on strings that do not parse as URLs too (plain text, other schemes).
 */
export function displayUrl(url: string): string {
  return url
    .trim()
    .replace(/[?#][\s\S]*$/, '')
    .replace(USER_INFO, '$1');
}

/** A model reference or modelUri for display: URL-shaped strings through `displayUrl`, others as given. */
export function displayReference(input: string): string {
  return SCHEME.test(input.trim()) ? displayUrl(input) : input;
}

/** Shorter values would mask ordinary words in every later line. */
const MIN_SECRET_LENGTH = 8;

function decoded(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/**
 * The secret parts of a URL, or of a bare SAS token (`sv=...&sig=...`): the query string, the `sig`
 * value in its raw, decoded and encoded forms, and any user info.
 */
export function urlSecrets(urlOrSas: string): string[] {
  const text = urlOrSas.trim();
  const out = new Set<string>();
  let query: string;
  if (SCHEME.test(text)) {
    const info = USER_INFO.exec(text)?.[2];
    if (info) {
      out.add(info);
      out.add(info.slice(info.indexOf(':') + 1));
    }
    const q = text.indexOf('?');
    query = q < 0 ? '' : text.slice(q + 1).replace(/#[\s\S]*$/, '');
  } else {
    // A bare SAS token; anything else (a model name, a path) holds no query.
    query = /^\??[^\s/=&?]+=/.test(text) ? text.replace(/^\?/, '') : '';
  }
  if (query) {
    out.add(query);
    out.add(decoded(query));
    for (const part of query.split('&')) {
      const eq = part.indexOf('=');
      if (eq < 0 || part.slice(0, eq).toLowerCase() !== 'sig') continue;
      const raw = part.slice(eq + 1);
      out.add(raw);
      out.add(decoded(raw));
      out.add(encodeURIComponent(decoded(raw)));
    }
  }
  return [...out].filter((s) => s.length >= MIN_SECRET_LENGTH);
}

/** Masks the secret parts of a URL or SAS token before anything can print them. */
export function maskUrlSecrets(urlOrSas: string, logger: Logger): void {
  for (const s of urlSecrets(urlOrSas)) logger.secret(s);
}
