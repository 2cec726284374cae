/** The https URL source: a plain download of one .onnx file (its query may carry a SAS). */
import { displayUrl } from '../util/url.js';
import { downloadUrl } from './https-download.js';
import { nameFromPath } from './local.js';
import { notAccepted, type UrlModelRef } from './reference.js';
import type { ModelSource } from './source.js';

const HTTPS_URL = /^https:\/\/\S+$/i;

export const urlSource: ModelSource<UrlModelRef> = {
  kinds: ['url'],

  recognise(s) {
    if (HTTPS_URL.test(s)) {
      let url: URL;
      try {
        url = new URL(s);
      } catch {
        throw notAccepted(s, 'it is not a valid URL');
      }
      if (!url.hostname) throw notAccepted(s, 'the URL has no host');
      return { kind: 'url', url: url.toString() };
    }
    if (/^http:\/\//i.test(s)) {
      throw notAccepted(s, 'plain http is not allowed for model downloads (use https)');
    }
    return undefined;
  },

  async fetch(ref, opts) {
    const source = displayUrl(ref.url);
    const file = await downloadUrl(ref.url, {
      destDir: opts.destDir,
      logger: opts.logger,
      retry: opts.retry,
      fetch: opts.download?.fetch,
      progress: opts.progress(source),
    });
    return {
      name: nameFromPath(new URL(ref.url).pathname, true),
      source,
      expected: [file],
      label: `The file downloaded from ${source}`,
    };
  },
};
