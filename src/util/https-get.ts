/**
 * One GET whose redirects are followed by hand, https only: the model download and the Hugging Face Hub
 * both go through it. fetch's own `redirect: 'follow'` would follow a Location on plain http (a model or
 * a tokenizer arriving unauthenticated and unencrypted) and carry the Authorization header to whatever
 * host a redirect names; here every hop must be https, the caller chooses each hop's request by its URL
 * (credentials only for their own origin) and sees every response, redirects included.
 */
import { displayUrl } from './url.js';
import { RetryableError, isTransientNetworkError } from './retry.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Why a redirect was not followed; the caller turns it into its own user-facing error. */
export type RedirectRefusal =
  | { kind: 'not-https'; from: URL; to: URL }
  | { kind: 'no-location'; from: URL; status: number }
  | { kind: 'invalid-location'; from: URL }
  | { kind: 'too-many'; max: number };

export interface HttpsGetOptions {
  fetch?: typeof fetch;
  /** The request of one hop (its headers), chosen by the hop's URL. */
  request(url: URL): RequestInit;
  /** Time allowed for each hop's response headers. */
  headersTimeoutMs: number;
  /** Default 10. */
  maxRedirects?: number;
  /** Sees every response, redirects included (e.g. a header the first hop sets). */
  onResponse?(res: Response, url: URL): void;
  /** Sees every Location before anything could print it (to mask a SAS in its query). */
  onLocation?(url: URL): void;
  refuse(refusal: RedirectRefusal): Error;
}

/** The final response and the URL that answered it. A timeout or a dropped connection is retryable. */
export async function httpsGet(
  url: string | URL,
  opts: HttpsGetOptions,
): Promise<{ res: Response; url: URL }> {
  const doFetch = opts.fetch ?? fetch;
  const max = opts.maxRedirects ?? 10;
  let current = new URL(url);
  for (let hops = 0; ; hops++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), opts.headersTimeoutMs);
    let res: Response;
    try {
      res = await doFetch(current, {
        ...opts.request(current),
        redirect: 'manual',
        signal: controller.signal,
      });
    } catch (e) {
      const shown = displayUrl(current.href);
      if (controller.signal.aborted)
        throw new RetryableError(`GET ${shown} timed out`, undefined, { cause: e });
      if (isTransientNetworkError(e)) {
        throw new RetryableError(`GET ${shown} failed (${(e as Error).message})`, undefined, { cause: e });
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
    opts.onResponse?.(res, current);
    if (!REDIRECTS.has(res.status)) return { res, url: current };
    await res.body?.cancel();
    const location = res.headers.get('location');
    if (!location) throw opts.refuse({ kind: 'no-location', from: current, status: res.status });
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw opts.refuse({ kind: 'invalid-location', from: current });
    }
    opts.onLocation?.(next);
    if (next.protocol !== 'https:') throw opts.refuse({ kind: 'not-https', from: current, to: next });
    if (hops >= max) throw opts.refuse({ kind: 'too-many', max });
    current = next;
  }
}
