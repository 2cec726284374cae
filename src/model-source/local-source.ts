/** The local source: a .onnx file or model folder on disk (a path, or a file:// URL), copied (./local.ts). */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyLocalModel, nameFromPath } from './local.js';
import { type LocalModelRef, URL_SCHEME } from './reference.js';
import type { ModelSource } from './source.js';

const FILE_URL = /^file:\/\/\S+$/i;
/** Looks like a path: absolute, ./ ../ ~/ prefixes, a drive letter, a separator inside, or a .onnx file. */
const LOCAL_PATH = /^(?:\.{1,2}|~)$|^(?:\.{1,2}|~)?[\\/]|^[A-Za-z]:[\\/]|^[^:]*[\\/]|\.onnx$/i;

export const localSource: ModelSource<LocalModelRef> = {
  kinds: ['local'],

  recognise(s) {
    if (FILE_URL.test(s)) return { kind: 'local', path: fileURLToPath(s) };
    if (URL_SCHEME.test(s)) return undefined;
    return LOCAL_PATH.test(s) ? { kind: 'local', path: s } : undefined;
  },

  async fetch(ref, opts) {
    const { singleFile } = await copyLocalModel(ref.path, opts.destDir);
    return {
      name: nameFromPath(resolve(ref.path), singleFile),
      source: ref.path,
      expected: [],
      label: `The model at ${ref.path}`,
    };
  },
};
