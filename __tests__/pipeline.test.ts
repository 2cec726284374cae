/**
 * The mission through its own seams: `packageModel` and `run(RunIO)` with a fake `PipelineDeps` that
 * records every call, and a fake HTTP client standing in for the model server. No service, no Docker,
 * no bundle: what the pipeline decides (which smoke tests, what is tagged and labelled, what is pushed
 * when, what the action outputs) is checked here; the real I/O behind each port has its own suites.
 */
import { describe, expect, it } from '@jest/globals';
import { UserError } from '../src/errors.js';
import { type InputName, readInputs } from '../src/inputs.js';
import { run, type RunIO } from '../src/main.js';
import type { Model } from '../src/model-source/index.js';
import { type BuiltImageInfo, packageModel, type PipelineDeps } from '../src/pipeline.js';
import type { RunningServer } from '../src/server-process.js';
import type { Logger } from '../src/util/log.js';

const HOST = 'linux/amd64';
const DIGEST = `sha256:${'a'.repeat(64)}`;
const PUSHED = `sha256:${'b'.repeat(64)}`;

const textModel: Model = {
  dir: '/model',
  name: 'sentiment',
  version: '3',
  source: 'azureml://sentiment/3',
  sha256: 'c'.repeat(64),
  files: [{ path: 'model.onnx', size: 1234, sha256: 'c'.repeat(64) }],
  modelFile: 'model.onnx',
  textModel: true,
};

/** What the fake model server answers: the two labels it predicts, or a status it fails with. */
interface ServerBehaviour {
  labels?: string[];
  status?: number;
}

/** A fetch that answers like the packaged server: /predict, the v2 metadata and v2 infer. */
function fakeServerFetch(b: ServerBehaviour, seen: string[]): typeof fetch {
  return async (input) => {
    const url = new URL(String(input));
    seen.push(url.pathname);
    if (b.status) return new Response('model failed to load', { status: b.status });
    if (url.pathname === '/predict') {
      const labels = b.labels ?? ['POSITIVE', 'POSITIVE', 'NEGATIVE'];
      return Response.json({ predictions: labels.map((label) => ({ label, score: 0.9 })) });
    }
    if (url.pathname.endsWith('/infer')) {
      return Response.json({
        outputs: [{ name: 'logits', shape: [1, 2], datatype: 'FP32', data: [0.1, 0.9] }],
      });
    }
    return Response.json({ inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 4] }] });
  };
}

interface Recorder {
  calls: string[];
  logs: string[];
  seen: string[];
  builds: Array<{ imageName: string; tags: string[]; labels: Record<string, string> }>;
  reuse: string[][];
}

function fakeDeps(
  o: {
    model?: Model;
    engine?: string;
    process?: ServerBehaviour;
    container?: ServerBehaviour;
    attachFails?: boolean;
  } = {},
): { deps: PipelineDeps; rec: Recorder } {
  const rec: Recorder = { calls: [], logs: [], seen: [], builds: [], reuse: [] };
  let where: ServerBehaviour = {};
  const logger: Logger = {
    info: (m) => rec.logs.push(m),
    warning: (m) => rec.logs.push(`warning: ${m}`),
    debug: () => undefined,
    secret: () => undefined,
  };
  const server = (behaviour: ServerBehaviour | undefined, name: string): RunningServer => {
    where = behaviour ?? {};
    return {
      baseUrl: 'http://127.0.0.1:1',
      logTail: () => [],
      stop: async () => void rec.calls.push(`stop ${name}`),
    };
  };
  const image: BuiltImageInfo = {
    digest: DIGEST,
    platformDigests: { [HOST]: DIGEST },
    platformSizes: { [HOST]: 100 },
    labels: {},
    base: { name: 'base', digest: DIGEST },
  };
  const deps: PipelineDeps = {
    logger,
    workDir: '/work',
    hostPlatform: HOST,
    fetch: (input, init) => fakeServerFetch(where, rec.seen)(input, init),
    fetchModel: async () => (rec.calls.push('fetchModel'), o.model ?? textModel),
    prepareRuntimes: (platforms, reuseFrom) => {
      rec.calls.push(`prepareRuntimes ${platforms.join(',')} reuse [${reuseFrom.join(',')}]`);
      return Object.fromEntries(platforms.map((p) => [p, Promise.resolve({ dir: `/runtime/${p}` })]));
    },
    prepareModel: async (model) => (rec.calls.push('prepareModel'), model),
    startServer: async () => (rec.calls.push('startServer'), server(o.process, 'process')),
    buildImage: async (req) => {
      rec.calls.push('buildImage');
      rec.builds.push({ imageName: req.imageName, tags: req.tags, labels: req.labels });
      rec.reuse.push(req.reuseLayersFrom);
      return { ...image, labels: req.labels };
    },
    writeSbom: async () => {
      rec.calls.push('writeSbom');
      return {
        path: '/sbom.cdx.json',
        artifact: { digest: `sha256:${'d'.repeat(64)}` } as never,
      };
    },
    writeOciArchive: async (_img, path) => void rec.calls.push(`writeOciArchive ${path}`),
    writeDockerArchive: async (_img, path) => void rec.calls.push(`writeDockerArchive ${path}`),
    dockerEngineVersion: async () => (rec.calls.push('dockerEngineVersion'), o.engine),
    runContainer: async () => (rec.calls.push('runContainer'), server(o.container, 'container')),
    pushImage: async (_img, imageName, tags) => {
      rec.calls.push(`pushImage ${imageName} ${tags.join(',')}`);
      return { digest: PUSHED, tags, bytesUploaded: 10, blobsUploaded: 2, blobsSkipped: 1 };
    },
    writeManifests: async (dir) => (rec.calls.push(`writeManifests ${dir}`), ['deployment.yaml']),
    attachReferrer: async () => {
      rec.calls.push('attachReferrer');
      if (o.attachFails) throw new UserError('the registry answered 403', 'Grant push access.');
      return 'referrers-api';
    },
  };
  return { deps, rec };
}

function options(inputs: Partial<Record<InputName, string>>) {
  return readInputs((n) => inputs[n] ?? '');
}

const ctx = { repository: 'octo/models', sha: '0123456789abcdef', serverUrl: 'https://github.example' };
/** The inputs of a run that only builds and pushes (no smoke test). */
const buildOnly = { model: 'sentiment:3', platforms: HOST, 'smoke-test': 'none' } as const;
const pushes = (rec: Recorder) => rec.calls.filter((c) => c.startsWith('pushImage'));

describe('packageModel: the container smoke test decision', () => {
  it("smoke-test 'container' without a Docker engine fails before anything is pushed", async () => {
    const { deps, rec } = fakeDeps({ engine: undefined });
    const opts = options({ model: 'sentiment:3', 'smoke-test': 'container', platforms: HOST });
    const err = await packageModel(opts, ctx, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect(String(err)).toBe(
      "smoke-test is 'container' but no Docker engine answers (docker version failed). Fix: Run on a runner with Docker (ubuntu-latest has it), or use 'smoke-test: process'.",
    );
    expect(pushes(rec)).toEqual([]);
  });

  it("smoke-test 'container' when the runner's platform is not built names the platform to add", async () => {
    const { deps, rec } = fakeDeps({ engine: '27.0.1' });
    const opts = options({ model: 'sentiment:3', 'smoke-test': 'container', platforms: 'linux/arm64' });
    const err = await packageModel(opts, ctx, deps).catch((e: unknown) => e);
    expect((err as UserError).message).toBe(
      "smoke-test is 'container' but this runner is linux/amd64, which 'platforms' does not build.",
    );
    expect((err as UserError).fix).toBe("Add linux/amd64 to 'platforms', or use 'smoke-test: process'.");
    expect(pushes(rec)).toEqual([]);
  });

  it("smoke-test 'auto' without an engine skips the container test, says so, and still pushes", async () => {
    const { deps, rec } = fakeDeps({ engine: undefined });
    const result = await packageModel(options({ model: 'sentiment:3', platforms: HOST }), ctx, deps);
    expect(result.smokeTests.map((s) => s.mode)).toEqual(['process']);
    expect(rec.logs).toContain(
      'No Docker engine answers: the container smoke test is skipped (smoke-test: auto).',
    );
    expect(rec.calls).not.toContain('runContainer');
    expect(pushes(rec)).toHaveLength(1);
  });

  it("smoke-test 'auto' with an engine runs both tests, process first (beside the build), then pushes", async () => {
    const { deps, rec } = fakeDeps({ engine: '27.0.1' });
    const result = await packageModel(options({ model: 'sentiment:3', platforms: HOST }), ctx, deps);
    expect(result.smokeTests.map((s) => s.mode)).toEqual(['process', 'container']);
    const order = ['startServer', 'stop process', 'runContainer', 'stop container'];
    expect(rec.calls.filter((c) => order.includes(c))).toEqual(order);
    expect(rec.calls.indexOf('buildImage')).toBeLessThan(rec.calls.indexOf('runContainer'));
    expect(rec.calls.indexOf('stop container')).toBeLessThan(
      rec.calls.findIndex((c) => c.startsWith('pushImage')),
    );
  });

  it("the process smoke test starts on the host's runtime while the other platform's is still being verified; the build waits for both", async () => {
    const { deps, rec } = fakeDeps({ engine: undefined });
    let armReady = (): void => undefined;
    deps.prepareRuntimes = (platforms) =>
      Object.fromEntries(
        platforms.map((p) => [
          p,
          p === HOST
            ? Promise.resolve({ dir: `/runtime/${p}` })
            : new Promise((r) => (armReady = () => (rec.calls.push(`${p} ready`), r({})))),
        ]),
      );
    const startServer = deps.startServer;
    deps.startServer = async (...args) => {
      const server = await startServer(...args);
      armReady(); // only now: a pipeline that waited for every platform before the test would hang
      return server;
    };
    const result = await packageModel(
      options({ model: 'sentiment:3', platforms: `${HOST},linux/arm64` }),
      ctx,
      deps,
    );
    expect(result.smokeTests.map((s) => s.mode)).toEqual(['process']);
    const at = (c: string) => rec.calls.indexOf(c);
    expect(at('startServer')).toBeLessThan(at('linux/arm64 ready'));
    expect(at('linux/arm64 ready')).toBeLessThan(at('buildImage'));
    expect(at('stop process')).toBeLessThan(rec.calls.findIndex((c) => c.startsWith('pushImage')));
  });

  it("smoke-test 'none' stages only the listed platforms and starts no server", async () => {
    const { deps, rec } = fakeDeps({ engine: '27.0.1' });
    const opts = options({ model: 'sentiment:3', platforms: 'linux/arm64', 'smoke-test': 'none' });
    const result = await packageModel(opts, ctx, deps);
    expect(result.smokeTests).toEqual([]);
    expect(rec.calls.filter((c) => c.startsWith('prepareRuntimes'))).toEqual([
      'prepareRuntimes linux/arm64 reuse [ghcr.io/octo/sentiment:3,ghcr.io/octo/sentiment:latest]',
    ]);
    expect(rec.calls).not.toContain('startServer');
  });
});

describe('packageModel: nothing is pushed after a failed smoke test', () => {
  it('a process smoke test whose server answers 500: the error says nothing was pushed; no push, no manifests', async () => {
    const { deps, rec } = fakeDeps({ engine: '27.0.1', process: { status: 500 } });
    const opts = options({ model: 'sentiment:3', platforms: HOST, manifests: 'k8s' });
    const err = await packageModel(opts, ctx, deps).catch((e: unknown) => e);
    expect((err as UserError).message).toBe(
      'Smoke test (process): POST /predict answered 500: model failed to load; nothing was pushed.',
    );
    expect(rec.calls).toContain('stop process');
    expect(pushes(rec)).toEqual([]);
    expect(rec.calls.filter((c) => c.startsWith('writeManifests'))).toEqual([]);
  });

  it('a container smoke test predicting other labels than smoke-test-expect: no push, the container is stopped', async () => {
    const { deps, rec } = fakeDeps({
      engine: '27.0.1',
      process: { labels: ['POSITIVE'] },
      container: { labels: ['NEGATIVE'] },
    });
    const opts = options({
      model: 'sentiment:3',
      platforms: HOST,
      'smoke-test-input': '["I love this"]',
      'smoke-test-expect': 'POSITIVE',
    });
    const err = await packageModel(opts, ctx, deps).catch((e: unknown) => e);
    expect((err as UserError).message).toBe(
      "Smoke test (container) predicted [NEGATIVE] but 'smoke-test-expect' is [POSITIVE]; nothing was pushed.",
    );
    expect(rec.calls).toContain('stop container');
    expect(pushes(rec)).toEqual([]);
  });

  it('a tensor model is smoke-tested with zeros shaped from its v2 metadata (read through the deps)', async () => {
    const { deps, rec } = fakeDeps({ model: { ...textModel, textModel: false } });
    const result = await packageModel(
      options({ model: 'tensor:1', platforms: HOST, 'smoke-test': 'process' }),
      ctx,
      deps,
    );
    expect(rec.seen.slice(0, 2)).toEqual(['/v2/models/sentiment', '/v2/models/sentiment/infer']);
    expect(result.smokeTests[0]?.request.body).toEqual({
      id: 'smoke-test',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4], data: [0, 0, 0, 0] }],
    });
    expect(result.smokeTests[0]?.predictions).toEqual(['1']);
  });
});

describe('packageModel: tags, labels and what is pushed', () => {
  it('expands tag templates, derives the image name and labels the source and revision', async () => {
    const { deps, rec } = fakeDeps();
    const opts = options({ ...buildOnly, tags: '{model-version},{short-sha},latest', labels: 'team=ml' });
    const result = await packageModel(opts, ctx, deps);
    expect(rec.builds).toEqual([
      {
        imageName: 'ghcr.io/octo/sentiment',
        tags: ['3', '0123456', 'latest'],
        labels: {
          team: 'ml',
          'org.opencontainers.image.source': 'https://github.example/octo/models',
          'org.opencontainers.image.revision': '0123456789abcdef',
        },
      },
    ]);
    expect(pushes(rec)).toEqual(['pushImage ghcr.io/octo/sentiment 3,0123456,latest']);
    // A re-run reuses the layers the registry holds under the tags it pushes.
    expect(rec.reuse).toEqual([
      ['ghcr.io/octo/sentiment:3', 'ghcr.io/octo/sentiment:0123456', 'ghcr.io/octo/sentiment:latest'],
    ]);
    expect(result.image.digest).toBe(PUSHED);
    expect(result.upload).toEqual({ blobsUploaded: 2, blobsSkipped: 1, bytesUploaded: 10 });
  });

  it("a user's label wins over the derived source label", async () => {
    const { deps, rec } = fakeDeps();
    const opts = options({ ...buildOnly, labels: 'org.opencontainers.image.source=https://example.com/src' });
    await packageModel(opts, ctx, deps);
    expect(rec.builds[0]?.labels['org.opencontainers.image.source']).toBe('https://example.com/src');
  });

  it('push: false builds and writes the archive but pushes nothing; the digest is the built one', async () => {
    const { deps, rec } = fakeDeps();
    const opts = options({ ...buildOnly, push: 'false', archive: 'out.tar' });
    const result = await packageModel(opts, ctx, deps);
    expect(pushes(rec)).toEqual([]);
    expect(rec.reuse).toEqual([[]]); // a build that pushes nothing reads no registry
    expect(rec.calls).toContain('writeOciArchive out.tar');
    expect(result.image).toMatchObject({ digest: DIGEST, pushed: false, archive: 'out.tar' });
  });

  it('the SBOM is attached only after the push; a failed attach says the image is pushed and how to finish', async () => {
    const { deps, rec } = fakeDeps({ attachFails: true });
    const opts = options({ model: 'sentiment:3', platforms: HOST, 'smoke-test': 'none', sbom: 'true' });
    const err = (await packageModel(opts, ctx, deps).catch((e: unknown) => e)) as UserError;
    expect(rec.calls.indexOf('attachReferrer')).toBeGreaterThan(
      rec.calls.findIndex((c) => c.startsWith('pushImage')),
    );
    expect(err.message).toBe(
      `The image ghcr.io/octo/sentiment@${PUSHED} and its tags were pushed, but attaching its SBOM failed: the registry answered 403`,
    );
    expect(err.fix).toBe(
      'Grant push access. Re-running pushes nothing twice and attaches it; or set sbom: false.',
    );
  });
});

describe('packageModel: the log', () => {
  it('one log group per stage, never nested, in the order they run; the parallel ones share one', async () => {
    const { deps } = fakeDeps({ engine: '27.0.1' });
    const groups: string[] = [];
    let open = 0;
    deps.logger.group = async (title, fn) => {
      groups.push(open > 0 ? `nested: ${title}` : title);
      open++;
      try {
        return await fn();
      } finally {
        open--;
      }
    };
    await packageModel(options({ model: 'sentiment:3', platforms: HOST }), ctx, deps);
    expect(groups).toEqual([
      'Resolving and downloading sentiment:3',
      'Staging the server runtime for linux/amd64',
      'Laying out the model (external-weights: auto)',
      'Smoke test in a process beside building ghcr.io/octo/sentiment for linux/amd64',
      'Smoke test in a container',
      'Pushing ghcr.io/octo/sentiment with tags 3, latest',
    ]);
  });
});

describe('run(RunIO): outputs and the one failure line', () => {
  function io(inputs: Partial<Record<InputName, string>>) {
    const outputs: Record<string, string> = {};
    const failures: string[] = [];
    const secrets: string[] = [];
    const summaries: string[] = [];
    const value: RunIO = {
      getInput: (n) => inputs[n] ?? '',
      logger: {
        info: () => undefined,
        warning: () => undefined,
        debug: () => undefined,
        secret: (s) => void secrets.push(s),
      },
      setOutput: (n, v) => void (outputs[n] = v),
      writeSummary: async (m) => void summaries.push(m),
      fail: (m) => void failures.push(m),
      context: { repository: 'octo/models', sha: '0123456789abcdef' },
      env: {},
    };
    return { value, outputs, failures, secrets, summaries };
  }

  it('sets the outputs from the pushed image and writes the summary', async () => {
    const { deps } = fakeDeps();
    const t = io({ model: 'sentiment:3', platforms: HOST, 'smoke-test': 'process' });
    const result = await run(t.value, () => deps);
    expect(result?.image.digest).toBe(PUSHED);
    expect(t.failures).toEqual([]);
    expect(t.outputs).toMatchObject({
      image: `ghcr.io/octo/sentiment@${PUSHED}`,
      'image-name': 'ghcr.io/octo/sentiment',
      digest: PUSHED,
      tags: '3,latest',
      'model-name': 'sentiment',
      'model-version': '3',
      'platform-digests': JSON.stringify({ [HOST]: DIGEST }),
    });
    expect(JSON.parse(t.outputs['smoke-test'] ?? '{}')).toMatchObject({
      process: { path: '/predict', predictions: ['POSITIVE', 'POSITIVE', 'NEGATIVE'] },
    });
    expect(t.summaries).toHaveLength(1);
  });

  it('tags, labels and the image name come from the run context, not from GITHUB_* read by hand', async () => {
    const { deps, rec } = fakeDeps();
    const t = io({ model: 'sentiment:3', platforms: HOST, 'smoke-test': 'none', tags: '{short-sha}' });
    t.value.env = { GITHUB_REPOSITORY: 'someone/else', GITHUB_SHA: 'f'.repeat(40) };
    await run(t.value, () => deps);
    expect(t.failures).toEqual([]);
    expect(rec.builds[0]).toMatchObject({
      imageName: 'ghcr.io/octo/sentiment',
      tags: ['0123456'],
      labels: { 'org.opencontainers.image.revision': '0123456789abcdef' },
    });
  });

  it('a user error fails the step with one line "... Fix: ..." and sets no output', async () => {
    const { deps } = fakeDeps({ process: { status: 500 } });
    const t = io({ model: 'sentiment:3', platforms: HOST, 'smoke-test': 'process' });
    expect(await run(t.value, () => deps)).toBeUndefined();
    expect(t.failures).toEqual([
      "Smoke test (process): POST /predict answered 500: model failed to load; nothing was pushed. Fix: Check 'smoke-test-input' matches the model's inputs, or the server log above for the cause.",
    ]);
    expect(t.outputs).toEqual({});
  });

  it('an unexpected error says how to get the details and that nothing was pushed unless the log says so', async () => {
    const { deps } = fakeDeps();
    deps.buildImage = async () => {
      throw new TypeError('boom');
    };
    const t = io({ model: 'sentiment:3', platforms: HOST, 'smoke-test': 'none' });
    await run(t.value, () => deps);
    expect(t.failures).toEqual([
      'Packaging failed unexpectedly: boom Fix: Re-run with debug logging (ACTIONS_STEP_DEBUG=true) and report the log; nothing was pushed unless the log says so.',
    ]);
  });

  it('masks every secret input before the deps are made', async () => {
    const { deps } = fakeDeps();
    const t = io({
      model: 'sentiment:3',
      platforms: HOST,
      'smoke-test': 'none',
      'registry-password': 'hunter22',
    });
    let maskedFirst = false;
    await run(t.value, () => ((maskedFirst = t.secrets.includes('hunter22')), deps));
    expect(maskedFirst).toBe(true);
  });
});
