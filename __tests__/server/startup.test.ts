/**
 * Startup errors: the bundle exits with a non-zero code and prints exactly one stderr line that names the
 * file (or setting) at fault and the fix.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { makeTempDir, removeDir } from '../env/proc.js';
import { fixtureModels, type FixtureModels } from '../fixtures/models.js';
import { BUNDLE, REPO, runToExit } from './helpers.js';

let models: FixtureModels;
let temp: string;

beforeAll(async () => {
  models = await fixtureModels();
  temp = await makeTempDir('server-startup');
});

afterAll(async () => {
  await removeDir(temp);
});

/** A copy of a model dir with some files added or replaced. */
async function variant(name: string, from: string, files: Record<string, string>): Promise<string> {
  const dir = join(temp, name);
  await cp(from, dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  return dir;
}

async function expectStartupError(
  dir: string,
  env: Record<string, string>,
  ...patterns: RegExp[]
): Promise<string> {
  return expectStartupErrorOf(undefined, dir, env, ...patterns);
}

async function expectStartupErrorOf(
  bundle: string | undefined,
  dir: string,
  env: Record<string, string>,
  ...patterns: RegExp[]
): Promise<string> {
  const { code, stderr } = await runToExit(dir, env, bundle);
  expect(code).not.toBe(0);
  const lines = stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  const line = lines[0] as string;
  expect(line).toMatch(/^startup error: .+; fix: .+/);
  for (const p of patterns) expect(line).toMatch(p);
  return line;
}

describe('startup errors', () => {
  it('no .onnx file', async () => {
    await expectStartupError(models.broken.empty, {}, /contains no \.onnx file/, /MODEL_FILE/);
  });

  it('several .onnx files', async () => {
    await expectStartupError(
      models.broken.twoModels,
      {},
      /several \.onnx files \(.+\.onnx, .+\.onnx\)/,
      /MODEL_FILE/,
    );
  });

  it('truncated ONNX file', async () => {
    await expectStartupError(
      models.broken.truncated,
      {},
      new RegExp(`${join(models.broken.truncated, 'model.onnx')} could not be loaded`),
      /valid ONNX model/,
    );
  });

  it('a file that is not ONNX', async () => {
    await expectStartupError(models.broken.notOnnx, {}, /model\.onnx could not be loaded by onnxruntime/);
  });

  it('MODEL_DIR that does not exist, MODEL_FILE that does not exist', async () => {
    await expectStartupError(join(temp, 'nowhere'), {}, /MODEL_DIR .*nowhere does not exist/);
    await expectStartupError(
      models.tensor,
      { MODEL_FILE: 'other.onnx' },
      /MODEL_FILE .*other\.onnx does not exist/,
    );
  });

  it('a text model whose inputs text cannot feed', async () => {
    // The tensor model (float_input [batch, 4]) with a tokenizer next to it.
    const dir = await variant('tensor-with-tokenizer', models.tensor, {});
    await cp(join(models.sentiment, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    await expectStartupError(
      dir,
      {},
      /input 'float_input'/,
      /remove tokenizer\.json to serve it as a tensor model/,
    );
  });

  it('tokenizer.json or config.json that is not JSON', async () => {
    const tok = await variant('bad-tokenizer', models.sentiment, { 'tokenizer.json': '{"model": ' });
    await expectStartupError(tok, {}, /tokenizer\.json is not valid JSON/);
    const cfg = await variant('bad-config', models.sentiment, { 'config.json': 'id2label: 0' });
    await expectStartupError(cfg, {}, /config\.json is not valid JSON/);
  });

  it.each([
    ['PORT', 'http'],
    ['WORKERS', '0'],
    ['MAX_BATCH_SIZE', '-1'],
    ['REQUEST_TIMEOUT_MS', '1.5'],
    ['LOG_LEVEL', 'loud'],
    ['MODEL_NAME', 'my model'],
  ])('invalid %s=%s', async (name, value) => {
    await expectStartupError(models.tensor, { [name]: value }, new RegExp(`^startup error: ${name}=`));
  });

  it('a port already in use', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await expectStartupError(
        models.tensor,
        { PORT: String(port) },
        new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`),
      );
    } finally {
      blocker.close();
    }
  });

  it('a bundle without onnxruntime-node next to it', async () => {
    // The bundle alone, copied where no node_modules can be found (the image builder must stage it).
    const alone = join(temp, 'bundle-alone');
    await cp(dirname(BUNDLE), alone, { recursive: true });
    await expectStartupErrorOf(
      join(alone, 'index.js'),
      models.sentiment,
      {},
      /onnxruntime-node is not installed next to .*bundle-alone\/index\.js/,
      /node_modules\/onnxruntime-node/,
    );
  });

  it("a worker that cannot load onnxruntime's shared library: its own error is in the startup line", async () => {
    // onnxruntime-node installed next to the bundle, minus the library its binding links against: the
    // worker thread dies on the dlopen error (as on a base image without librt.so.1).
    const nolib = join(temp, 'bundle-nolib');
    await cp(dirname(BUNDLE), nolib, { recursive: true });
    for (const pkg of ['onnxruntime-node', 'onnxruntime-common']) {
      await cp(join(REPO, 'node_modules', pkg), join(nolib, 'node_modules', pkg), { recursive: true });
    }
    const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
    await rm(join(nolib, 'node_modules/onnxruntime-node/bin/napi-v6/linux', arch, 'libonnxruntime.so.1'));
    await expectStartupErrorOf(
      join(nolib, 'index.js'),
      models.sentiment,
      {},
      /the inference worker for .*model\.onnx exited \(code 1\) while loading: /,
      /libonnxruntime\.so\.1: cannot open shared object file/,
      /fix: onnxruntime-node cannot load libonnxruntime\.so\.1: use a glibc base image that has it/,
    );
  });

  it('an unreadable model directory entry is reported, not crashed on', async () => {
    const dir = join(temp, 'dir-named-onnx');
    await mkdir(join(dir, 'model.onnx'), { recursive: true });
    await expectStartupError(dir, {}, /model\.onnx/);
  });
});
