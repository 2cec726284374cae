/**
 * The local CLI's logic: the same pipeline as the action, from a terminal. Flags mirror the action's inputs
 * (`--model`, `--tags`, ...); credentials come from the environment so they never sit in shell history.
 */
import { parseArgs } from 'node:util';
import { INPUT_NAMES, type InputName, type RunContext, SECRET_INPUTS } from './inputs.js';
import type { PackageResult } from './report.js';
import { run } from './main.js';
import { escapeLogLine, type Logger } from './util/log.js';

export const HELP = `Usage: package-onnx-model --model REF [options]

Packages an ONNX model into a smoke-tested container image (the same pipeline as the GitHub Action).

Options (each mirrors the action input of the same name):
${INPUT_NAMES.filter((n) => !SECRET_INPUTS.includes(n))
  .map((n) => `  --${n} VALUE`)
  .join('\n')}
  --no-push                 build and smoke-test only (same as --push false)
  --sha SHA                 commit for {sha}/{short-sha} tags and the revision label (default GITHUB_SHA)
  --repository OWNER/NAME   for the default image name and the source label (default GITHUB_REPOSITORY)
  -h, --help

Environment:
  AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET   service principal (built into the creds JSON)
  AZURE_CREDENTIALS                                        the azure/login creds JSON instead
  AZURE_SUBSCRIPTION_ID, AZURE_RESOURCE_GROUP, AZURE_ML_WORKSPACE
  REGISTRY_USERNAME, REGISTRY_PASSWORD                     push credentials (else the Docker config's
                                                           login for the host; GITHUB_TOKEN for ghcr.io only)
  BASE_REGISTRY_USERNAME, BASE_REGISTRY_PASSWORD           base image pull credentials
  HF_TOKEN, HF_ENDPOINT                                    Hugging Face token and endpoint for --tokenizer
  SOURCE_DATE_EPOCH                                        fixed timestamps for reproducible images

Examples:
  package-onnx-model --model examples/sentiment --base-image oci-layout:.cache/base-image \\
    --archive sentiment.tar --no-push
  AZURE_CLIENT_ID=... AZURE_TENANT_ID=... AZURE_CLIENT_SECRET=... package-onnx-model \\
    --model sentiment@latest --azure-subscription-id SUB --azure-resource-group RG --azure-workspace WS \\
    --registry ghcr.io --image ghcr.io/me/sentiment`;

/** Maps flags and the environment to the action's input names. */
export function cliInputs(
  argv: string[],
  env: NodeJS.ProcessEnv,
): { get: (name: InputName) => string; help: boolean; context: RunContext } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
    'no-push': { type: 'boolean' },
    sha: { type: 'string' },
    repository: { type: 'string' },
  };
  for (const n of INPUT_NAMES) options[n] = { type: 'string' };
  const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
  const flags = values as Record<string, string | boolean | undefined>;

  let creds = env.AZURE_CREDENTIALS ?? '';
  if (!creds && env.AZURE_CLIENT_SECRET) {
    creds = JSON.stringify({
      clientId: env.AZURE_CLIENT_ID,
      clientSecret: env.AZURE_CLIENT_SECRET,
      tenantId: env.AZURE_TENANT_ID,
      subscriptionId: env.AZURE_SUBSCRIPTION_ID,
    });
  }
  const fromEnv: Partial<Record<InputName, string | undefined>> = {
    'azure-client-id': env.AZURE_CLIENT_SECRET || env.AZURE_CREDENTIALS ? undefined : env.AZURE_CLIENT_ID,
    'azure-tenant-id': env.AZURE_CLIENT_SECRET || env.AZURE_CREDENTIALS ? undefined : env.AZURE_TENANT_ID,
    'azure-credentials': creds,
    'azure-subscription-id': env.AZURE_SUBSCRIPTION_ID,
    'azure-resource-group': env.AZURE_RESOURCE_GROUP,
    'azure-workspace': env.AZURE_ML_WORKSPACE,
    'registry-username': env.REGISTRY_USERNAME,
    'registry-password': env.REGISTRY_PASSWORD,
    'github-token': env.GITHUB_TOKEN,
    'base-registry-username': env.BASE_REGISTRY_USERNAME,
    'base-registry-password': env.BASE_REGISTRY_PASSWORD,
    'huggingface-token': env.HF_TOKEN,
  };
  const get = (name: InputName): string => {
    if (name === 'push' && flags['no-push']) return 'false';
    const flag = flags[name];
    if (typeof flag === 'string') return flag;
    return fromEnv[name] ?? '';
  };
  // Run as a step of a workflow, the CLI reads the run's context as @actions/github does; flags win.
  const context: RunContext = {
    repository: typeof flags.repository === 'string' ? flags.repository : env.GITHUB_REPOSITORY,
    sha: typeof flags.sha === 'string' ? flags.sha : env.GITHUB_SHA,
    actor: env.GITHUB_ACTOR,
    serverUrl: env.GITHUB_SERVER_URL,
  };
  return { get, help: flags.help === true, context };
}

const secrets = new Set<string>();

/**
 * A line for the terminal: registered secrets masked, and, run as a step of a workflow (whose runner
 * reads stdout and stderr lines for workflow commands too), CR/LF escaped.
 */
function terminalText(m: string): string {
  let out = m;
  for (const s of secrets) out = out.split(s).join('***');
  return process.env.GITHUB_ACTIONS === 'true' ? escapeLogLine(out) : out;
}

export const terminalLogger: Logger = {
  info: (m) => console.log(terminalText(m)),
  warning: (m) => console.error(`warning: ${terminalText(m)}`),
  debug: (m) => {
    if (process.env.DEBUG) console.error(`debug: ${terminalText(m)}`);
  },
  secret: (v) => {
    if (v) secrets.add(v);
  },
};

export async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof cliInputs>;
  try {
    parsed = cliInputs(argv, process.env);
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.help) {
    console.log(HELP);
    return 0;
  }
  let failed: string | undefined;
  const outputs: Record<string, string> = {};
  const result = await run({
    getInput: parsed.get,
    logger: terminalLogger,
    setOutput: (n, v) => (outputs[n] = v),
    writeSummary: async () => undefined,
    fail: (m) => (failed = m),
    context: parsed.context,
    env: process.env,
  });
  if (failed || !result) {
    console.error(`error: ${terminalText(failed ?? 'packaging failed')}`);
    return 1;
  }
  console.log('');
  for (const [n, v] of Object.entries(outputs)) console.log(`${n}=${v}`);
  if (result.image.archive)
    console.log(`\n${howToRun(result, Number(parsed.get('port') || '8080')).join('\n')}`);
  return 0;
}

/** Quotes a value for a POSIX shell. */
const shellQuote = (v: string): string => `'${v.replace(/'/g, `'\\''`)}'`;

/**
 * What to do with the archive, as commands that work exactly as printed (a test runs them): load it,
 * run it, and send it the smoke test's own request.
 */
export function howToRun(result: PackageResult, port: number): string[] {
  const { image } = result;
  const archive = image.archive as string;
  const ref = `${image.name}:${image.tags[0] ?? 'latest'}`;
  const platforms = (image.archivePlatforms ?? Object.keys(image.platformDigests)).join(', ');
  const lines =
    image.archiveFormat === 'docker'
      ? [
          `Made ${archive}: a docker-archive of ${ref} (${platforms}), which every Docker engine loads.`,
          'Load and run it:',
        ]
      : [
          `Made ${archive}: an OCI image archive of ${ref} (${platforms}) for podman, skopeo and Docker;`,
          `docker load reads its ${image.dockerLoadPlatform ?? platforms} image on any engine (--archive-format docker writes a plain docker-archive).`,
          'Load and run it:',
        ];
  // Host networking: the server listens on its baked-in PORT (on Docker Desktop use -p PORT:PORT).
  lines.push(`  docker load -i ${shellQuote(archive)}`, `  docker run --rm --network host ${ref}`);
  const request = result.smokeTests[0]?.request;
  if (request) {
    lines.push(
      `  curl -X POST -H "Content-Type: application/json" --data ${shellQuote(JSON.stringify(request.body))} http://localhost:${port}${request.path}`,
    );
  }
  return lines;
}
