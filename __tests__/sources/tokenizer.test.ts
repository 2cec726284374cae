/**
 * The `tokenizer` input against a TLS stand-in of the Hugging Face Hub (relative and CDN redirects,
 * X-Repo-Commit, the Hub's error codes), an https URL and local paths; `class-labels` as config.json.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeClassLabels } from '../../src/model-source/class-labels.js';
import { fetchTokenizer, parseTokenizerRef, type TokenizerRef } from '../../src/model-source/tokenizer.js';
import { failure, userError } from '../fixtures/errors.js';
import { type FakeHub, startFakeHub } from '../fakes/hub.js';
import { captureLogger, fastRetry, tempDir } from './helpers.js';

const TOKENIZER = JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0 } } });
const CONFIG = JSON.stringify({ model_max_length: 512, bos_token: '<s>' });
const TOKEN = 'hf_privateTokenValue0123456789';

let hub: FakeHub;
let work: { path: string; remove(): Promise<void> };
let commit: string;
let privateCommit: string;
let n = 0;

beforeAll(async () => {
  hub = await startFakeHub();
  work = await tempDir('tokenizer');
  commit = hub.addRepo('FacebookAI/roberta-base', {
    files: {
      'tokenizer.json': { body: TOKENIZER, lfs: true },
      'tokenizer_config.json': { body: CONFIG },
    },
    refs: ['main', 'v1'],
  });
  privateCommit = hub.addRepo('acme/private-tok', {
    files: {
      'tokenizer.json': { body: TOKENIZER, lfs: true },
      'tokenizer_config.json': { body: CONFIG, lfs: true },
      'special_tokens_map.json': { body: '{}' },
    },
    token: TOKEN,
  });
  hub.addRepo('acme/gated', { files: { 'tokenizer.json': { body: TOKENIZER } }, token: TOKEN, gated: true });
  hub.addRepo('acme/no-fast-tokenizer', { files: { 'vocab.json': { body: '{}' } } });
});

afterAll(async () => {
  await hub?.stop();
  await work?.remove();
});

async function fetchInto(ref: TokenizerRef, token?: string) {
  const destDir = join(work.path, `t${n++}`);
  const logger = captureLogger();
  const info = await fetchTokenizer(ref, {
    destDir,
    endpoint: hub.endpoint,
    token,
    logger,
    retry: fastRetry,
  });
  return { info, destDir, logger };
}

describe('parseTokenizerRef', () => {
  const never = () => false;
  test.each<[string, TokenizerRef]>([
    ['FacebookAI/roberta-base', { kind: 'hub', repo: 'FacebookAI/roberta-base', revision: 'main' }],
    [
      'FacebookAI/roberta-base@e2c8b7a1',
      { kind: 'hub', repo: 'FacebookAI/roberta-base', revision: 'e2c8b7a1' },
    ],
    ['roberta-base', { kind: 'hub', repo: 'roberta-base', revision: 'main' }],
    ['https://example.com/t/tokenizer.json', { kind: 'url', url: 'https://example.com/t/tokenizer.json' }],
    ['./tok', { kind: 'local', path: './tok' }],
    ['models/tokenizer.json', { kind: 'local', path: 'models/tokenizer.json' }],
  ])('%s', (value, ref) => expect(parseTokenizerRef(value, never)).toEqual(ref));

  test('a folder named like a Hub id is the local path it is', () => {
    expect(parseTokenizerRef('tokenizers/roberta', (p) => p === 'tokenizers/roberta')).toEqual({
      kind: 'local',
      path: 'tokenizers/roberta',
    });
  });

  test.each(['http://example.com/tokenizer.json', 'not a repo id', 'org/name@bad..rev'])(
    '%s is refused',
    (v) => {
      expect(userError(() => parseTokenizerRef(v, never)).toString()).toMatch(/tokenizer.*Fix: /);
    },
  );
});

describe('from the Hub', () => {
  test('follows the CDN and the relative redirects, records X-Repo-Commit and pins the other files to it', async () => {
    const before = hub.requests.length;
    const { info, destDir, logger } = await fetchInto({
      kind: 'hub',
      repo: 'FacebookAI/roberta-base',
      revision: 'main',
    });
    expect(info).toEqual({
      source: `${hub.endpoint}/FacebookAI/roberta-base@main`,
      files: ['tokenizer.json', 'tokenizer_config.json'],
      repo: 'FacebookAI/roberta-base',
      revision: 'main',
      commit,
    });
    expect(await readFile(join(destDir, 'tokenizer.json'), 'utf8')).toBe(TOKENIZER);
    expect(await readFile(join(destDir, 'tokenizer_config.json'), 'utf8')).toBe(CONFIG);
    expect((await readdir(destDir)).sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    const paths = hub.requests.slice(before).map((r) => `${r.host} ${r.path.split('?')[0]}`);
    expect(paths).toEqual([
      'hub /FacebookAI/roberta-base/resolve/main/tokenizer.json',
      expect.stringMatching(/^cdn \/repos\/[0-9a-f]{2}\/[0-9a-f]{64}$/),
      `hub /FacebookAI/roberta-base/resolve/${commit}/tokenizer_config.json`,
      `hub /api/resolve-cache/models/FacebookAI/roberta-base/${commit}/tokenizer_config.json`,
      `hub /FacebookAI/roberta-base/resolve/${commit}/special_tokens_map.json`,
    ]);
    expect(logger.text()).toContain(`commit ${commit}`);
  });

  test('a branch and a commit revision', async () => {
    expect(
      (await fetchInto({ kind: 'hub', repo: 'FacebookAI/roberta-base', revision: 'v1' })).info.commit,
    ).toBe(commit);
    expect(
      (await fetchInto({ kind: 'hub', repo: 'FacebookAI/roberta-base', revision: commit })).info.files,
    ).toEqual(['tokenizer.json', 'tokenizer_config.json']);
  });

  test('a private repository: the token goes to the Hub only, never to the CDN', async () => {
    const before = hub.requests.length;
    const { info, destDir } = await fetchInto(
      { kind: 'hub', repo: 'acme/private-tok', revision: 'main' },
      TOKEN,
    );
    expect(info.commit).toBe(privateCommit);
    expect(info.files).toEqual(['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']);
    expect(await readFile(join(destDir, 'special_tokens_map.json'), 'utf8')).toBe('{}');
    const seen = hub.requests.slice(before);
    expect(seen.filter((r) => r.host === 'cdn')).toHaveLength(2);
    for (const r of seen) expect(r.authorization).toBe(r.host === 'hub' ? `Bearer ${TOKEN}` : undefined);
  });

  test.each<[string, TokenizerRef, string | undefined, RegExp]>([
    [
      'RepoNotFound (401 without a token)',
      { kind: 'hub', repo: 'acme/private-tok', revision: 'main' },
      undefined,
      /repository 'acme\/private-tok' was not found .* or it is private \(the Hub said: Repository not found\)\. Fix: .*set 'huggingface-token'/,
    ],
    [
      'RepoNotFound (404 with a token)',
      { kind: 'hub', repo: 'acme/missing', revision: 'main' },
      'hf_other',
      /'acme\/missing' was not found.*Fix: Check the repository id in 'tokenizer', and that 'huggingface-token' can read it/,
    ],
    [
      'RevisionNotFound',
      { kind: 'hub', repo: 'FacebookAI/roberta-base', revision: 'nope' },
      undefined,
      /has no revision 'nope' \(the Hub said: Invalid rev id: nope\)\. Fix: Name a branch, tag or commit/,
    ],
    [
      'EntryNotFound for tokenizer.json',
      { kind: 'hub', repo: 'acme/no-fast-tokenizer', revision: 'main' },
      undefined,
      /'acme\/no-fast-tokenizer' has no tokenizer\.json at 'main' \(the Hub said: Entry not found\)\. Fix: Use a repository with a fast tokenizer/,
    ],
    [
      'GatedRepo',
      { kind: 'hub', repo: 'acme/gated', revision: 'main' },
      'hf_other',
      /'acme\/gated' is gated \(the Hub said: Access to model acme\/gated is restricted.*Fix: Accept its conditions/,
    ],
  ])('%s: one message with the fix', async (_, ref, token, message) => {
    const destDir = join(work.path, `t${n++}`);
    const e = await failure(
      fetchTokenizer(ref, {
        destDir,
        endpoint: hub.endpoint,
        token,
        logger: captureLogger(),
        retry: fastRetry,
      }),
    );
    expect(e.toString()).toMatch(message);
    expect(e.toString()).not.toContain(TOKEN);
  });

  test('a plain-http endpoint is refused before anything is sent', async () => {
    const before = hub.requests.length;
    const e = await failure(
      fetchTokenizer(
        { kind: 'hub', repo: 'FacebookAI/roberta-base', revision: 'main' },
        {
          destDir: join(work.path, `t${n++}`),
          endpoint: hub.endpoint.replace('https:', 'http:'),
          logger: captureLogger(),
        },
      ),
    );
    expect(e.toString()).toMatch(/not https.*Fix: Set 'huggingface-endpoint'/);
    expect(hub.requests.length).toBe(before);
  });
});

describe('from a URL or a local path', () => {
  test('an https URL of a tokenizer.json (through the redirects)', async () => {
    const url = `${hub.endpoint}/FacebookAI/roberta-base/resolve/main/tokenizer.json`;
    const { info, destDir } = await fetchInto({ kind: 'url', url });
    expect(info).toEqual({ source: url, files: ['tokenizer.json'] });
    expect(await readFile(join(destDir, 'tokenizer.json'), 'utf8')).toBe(TOKENIZER);
    expect(await readdir(destDir)).toEqual(['tokenizer.json']);
  });

  test('a local folder and a local file', async () => {
    const src = join(work.path, 'saved');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'tokenizer.json'), TOKENIZER);
    await writeFile(join(src, 'special_tokens_map.json'), '{}');
    await writeFile(join(src, 'vocab.txt'), 'ignored');
    const folder = await fetchInto({ kind: 'local', path: src });
    expect(folder.info.files).toEqual(['tokenizer.json', 'special_tokens_map.json']);
    expect(existsSync(join(folder.destDir, 'vocab.txt'))).toBe(false);
    const file = await fetchInto({ kind: 'local', path: join(src, 'tokenizer.json') });
    expect(await readFile(join(file.destDir, 'tokenizer.json'), 'utf8')).toBe(TOKENIZER);
    const e = await failure(fetchInto({ kind: 'local', path: join(work.path, 'absent') }));
    expect(e.toString()).toMatch(/does not exist.*Fix: /);
  });
});

describe('class-labels', () => {
  test('writes id2label and label2id, keeping the rest of an existing config.json', async () => {
    const dir = join(work.path, 'labels');
    await mkdir(dir, { recursive: true });
    expect(await writeClassLabels(dir, ['NEGATIVE', 'POSITIVE'])).toEqual({
      '0': 'NEGATIVE',
      '1': 'POSITIVE',
    });
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual({
      id2label: { '0': 'NEGATIVE', '1': 'POSITIVE' },
      label2id: { NEGATIVE: 0, POSITIVE: 1 },
    });
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ model_type: 'roberta', id2label: { '0': 'A' } }),
    );
    await writeClassLabels(dir, ['neg', 'pos']);
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toEqual({
      model_type: 'roberta',
      id2label: { '0': 'neg', '1': 'pos' },
      label2id: { neg: 0, pos: 1 },
    });
  });
});
