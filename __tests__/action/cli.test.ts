import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DockerEngine, ensureBaseImage, startDocker } from '../env/index.js';
import { fixtureModels } from '../fixtures/models.js';

// The committed CLI bundle, run as users run it.
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['dist/cli/index.js', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('CLI', () => {
  it('--help lists a flag for every non-secret action input', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    const inputs = Object.keys((parse(readFileSync('action.yml', 'utf8')) as { inputs: object }).inputs);
    const secret = [
      'registry-password',
      'github-token',
      'azure-credentials',
      'base-registry-password',
      'huggingface-token',
    ];
    for (const name of inputs.filter((n) => !secret.includes(n))) expect(r.stdout).toContain(`--${name} `);
    for (const name of secret) expect(r.stdout).not.toContain(`--${name} `);
  });

  it('rejects an unknown flag with exit code 2 and the usage', () => {
    const r = cli(['--modle', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Unknown option '--modle'/);
    expect(r.stderr).toContain('Usage: package-onnx-model');
  });

  it('fails with one error line that lists the accepted model forms', () => {
    const r = cli(['--model', 'ftp://example.invalid/model.onnx', '--no-push']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^error: .*ftp:\/\/example\.invalid.*Fix: .*name:version.*azureml:\/\/registries/m,
    );
  });

  it('never prints a secret it was given', () => {
    const secret = 'Sup3rS3cretValue-never-print-me';
    const r = cli(['--model', 'ftp://nope', '--no-push'], {
      AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000001',
      AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000002',
      AZURE_CLIENT_SECRET: secret,
      REGISTRY_PASSWORD: secret,
    });
    expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it('in a workflow step, a path holding a newline cannot inject a workflow command', () => {
    const r = cli(['--model', './no-such-dir\n::warning::injected', '--no-push'], { GITHUB_ACTIONS: 'true' });
    expect(r.code).toBe(1);
    const lines = (r.stdout + r.stderr).split('\n');
    expect(lines.filter((l) => l.startsWith('::'))).toEqual([]);
    expect(r.stdout).toContain('./no-such-dir%0A::warning::injected');
    expect(r.stderr).toMatch(
      /^error: The model path '\.\/no-such-dir%0A::warning::injected' does not exist\./m,
    );
  });

  describe('packaging a tensor model offline', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pom-cli-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    /** Packages a local model for linux/amd64 with a process smoke test into an archive, no push. */
    const packageOffline = async (model: string, image: string, archive: string) => {
      const { layoutDir } = await ensureBaseImage();
      return cli([
        ...['--model', model, '--image', image, '--base-image', `oci-layout:${layoutDir}`],
        ...['--platforms', 'linux/amd64', '--smoke-test', 'process', '--archive', archive, '--no-push'],
      ]);
    };

    it('smoke-tests it with zeros shaped from the v2 metadata and writes an OCI archive', async () => {
      const { tensor } = await fixtureModels();
      // A folder name with spaces and capitals: the server's URL name must still work.
      const model = join(dir, 'Iris Model v2');
      await cp(tensor, model, { recursive: true });
      const archive = join(dir, 'iris.tar');
      const r = await packageOffline(model, 'example.org/ml/iris', archive);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      const smoke = JSON.parse(/^smoke-test=(.*)$/m.exec(r.stdout)?.[1] ?? '{}') as {
        process: {
          path: string;
          input: { inputs: Array<{ shape: number[]; data: number[] }> };
          predictions: string[];
        };
      };
      expect(smoke.process.path).toBe('/v2/models/Iris-Model-v2/infer');
      expect(smoke.process.input.inputs[0]).toMatchObject({ shape: [1, 4], data: [0, 0, 0, 0] });
      expect(smoke.process.predictions).toHaveLength(1);
      expect(['0', '1', '2']).toContain(smoke.process.predictions[0]);
      // The name is made URL-safe from the folder name.
      expect(r.stdout).toMatch(/^model-name=Iris-Model-v2$/m);
      expect(r.stdout).toContain(`Made ${archive}`);
    }, 300_000);

    // No 'smoke-test-expect': the default oracle alone must refuse a model that computes garbage.
    it.each([
      ['answers NaN', 'nanTensor', /output 'probabilities'\[0\] = null \(NaN or infinity\)/],
      [
        'answers probabilities that do not sum to 1',
        'unnormalizedTensor',
        /row 0 = .*not probabilities summing to 1/,
      ],
    ] as const)(
      'refuses a model that %s and writes nothing',
      async (_what, which, message) => {
        const { faulty } = await fixtureModels();
        const archive = join(dir, `${which}.tar`);
        const r = await packageOffline(faulty[which], 'example.org/ml/faulty', archive);
        expect(r.code).toBe(1);
        const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
        expect(errors).toHaveLength(1);
        expect(errors[0]).toMatch(/^error: Smoke test \(process\): POST .* nothing was pushed\. Fix: /);
        expect(errors[0]).toMatch(message);
        expect(existsSync(archive)).toBe(false);
      },
      300_000,
    );
  });
});

describe('the commands the CLI prints for its archive', () => {
  let docker: DockerEngine;
  let dir: string;
  beforeAll(async () => {
    [docker, dir] = await Promise.all([startDocker(), mkdtemp(join(tmpdir(), 'pom-cli-printed-'))]);
  }, 300_000);
  afterAll(async () => {
    await docker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs one printed line in a shell against the test's Docker engine. */
  const sh = (line: string, timeoutMs = 300_000) =>
    spawnSync('bash', ['-c', line], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: dir, DOCKER_HOST: docker.host },
      timeout: timeoutMs,
    });

  it.each([
    ['oci', 'OCI image archive', []],
    ['docker', 'docker-archive', ['--archive-format', 'docker']],
  ])(
    '%s: every printed command works as printed',
    async (format, kind, flags) => {
      const { layoutDir } = await ensureBaseImage();
      const archive = join(dir, `sentiment-${format}.tar`);
      const port = 20000 + Math.floor(Math.random() * 2000);
      const r = cli([
        '--model',
        'examples/sentiment',
        '--image',
        `package-onnx-model/sentiment-${format}`,
        '--base-image',
        `oci-layout:${layoutDir}`,
        '--platforms',
        'linux/amd64',
        '--smoke-test',
        'process',
        '--archive',
        archive,
        '--port',
        String(port),
        '--no-push',
        ...flags,
      ]);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout).toContain(`Made ${archive}: a${format === 'oci' ? 'n' : ''} ${kind}`);
      expect(r.stdout).not.toMatch(/skopeo copy/);
      const commands = r.stdout
        .slice(r.stdout.indexOf('Load and run it:'))
        .split('\n')
        .filter((l) => l.startsWith('  '))
        .map((l) => l.trim());
      expect(commands.map((c) => c.split(' ').slice(0, 2).join(' '))).toEqual([
        'docker load',
        'docker run',
        'curl -X',
      ]);
      const [load, runLine, curl] = commands as [string, string, string];
      const loaded = sh(load);
      expect({ load, code: loaded.status, stderr: loaded.stderr }).toEqual({ load, code: 0, stderr: '' });
      // The server runs in the foreground, as printed; the printed curl gets the smoke test's answer.
      const server = spawn('bash', ['-c', `exec ${runLine}`], {
        env: { PATH: process.env.PATH ?? '', HOME: dir, DOCKER_HOST: docker.host },
        stdio: 'ignore',
      });
      try {
        let answer: ReturnType<typeof sh> | undefined;
        for (let i = 0; i < 120; i++) {
          answer = sh(`${curl} --fail --silent --show-error`, 30_000);
          if (answer.status === 0) break;
          await new Promise((res) => setTimeout(res, 500));
        }
        expect(answer?.status).toBe(0);
        expect(JSON.parse(answer?.stdout ?? '')).toMatchObject({ positive: true });
      } finally {
        server.kill('SIGTERM');
        await new Promise((res) => server.once('close', res));
        const ref = runLine.split(' ').pop() as string;
        sh(`docker ps -aq --filter ancestor=${ref} | xargs -r docker rm -f; docker rmi -f ${ref}`, 60_000);
      }
    },
    600_000,
  );
});
