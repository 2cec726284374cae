/**
 * The action's and the CLI's inputs, read through an injected getter and validated with zod into the
 * options the pipeline runs on. Pure: no I/O besides the getter.
 */
import { z } from 'zod';
import { UserError } from './errors.js';
import type { AzureSettings } from './model-source/index.js';

export type SmokeTestMode = 'auto' | 'process' | 'container' | 'none';

export interface PackageOptions {
  model: string;
  modelSha256?: string;
  azure: AzureSettings;
  registry: string;
  /** Explicit inputs only (empty defaults in action.yml): they win over every other source. */
  registryUsername?: string;
  registryPassword?: string;
  /** `github.token` (the `github-token` input's default): sent to ghcr.io only. */
  githubToken?: string;
  insecureRegistries: string[];
  /** Empty: derived from the registry, the repository owner and the model name. */
  image?: string;
  /** Raw tag templates; expanded once the model is known. */
  tags: string[];
  labels: Record<string, string>;
  platforms: string[];
  baseImage: string;
  baseRegistryUsername?: string;
  baseRegistryPassword?: string;
  push: boolean;
  archive?: string;
  /** Write a CycloneDX BOM and attach it to the pushed image (and the archive). */
  sbom: boolean;
  /** Ship the weights in `<model>.onnx.data` (src/model-layout.ts): always, never, or from 64 MiB. */
  externalWeights: ExternalWeights;
  smokeTest: SmokeTestMode;
  smokeTestInput?: unknown;
  smokeTestExpect: string[];
  port: number;
  /** Server settings baked into the image env. */
  serverEnv: Record<string, string>;
  /** Hub repo id[@revision], https URL of a tokenizer.json, or local path (parsed against the disk later). */
  tokenizer?: string;
  /** Empty: HF_ENDPOINT, else https://huggingface.co. */
  huggingfaceEndpoint?: string;
  huggingfaceToken?: string;
  /** Class names by output index, written as config.json id2label. */
  classLabels: string[];
  /** `oci` (OCI image layout tar) or `docker` (docker-archive of one platform, for engines before 25). */
  archiveFormat: ArchiveFormat;
  /** Folder for the Kubernetes and KServe manifests of the pushed image. */
  manifests?: string;
  /** Container resource requests in the manifests (Kubernetes quantities). */
  resources: { cpu: string; memory: string };
}

export type ArchiveFormat = 'oci' | 'docker';
export type ExternalWeights = 'auto' | 'true' | 'false';
/** `external-weights: auto` moves the weights of .onnx files at least this big. */
export const EXTERNAL_WEIGHTS_AUTO_BYTES = 64 * 1024 * 1024;

/** Every input name action.yml declares (a test keeps the two in sync). */
export const INPUT_NAMES = [
  'model',
  'model-sha256',
  'azure-client-id',
  'azure-tenant-id',
  'azure-subscription-id',
  'azure-resource-group',
  'azure-workspace',
  'azure-credentials',
  'azure-authority-host',
  'azure-resource-manager-endpoint',
  'azure-blob-endpoint',
  'registry',
  'registry-username',
  'registry-password',
  'github-token',
  'insecure-registries',
  'image',
  'tags',
  'labels',
  'platforms',
  'base-image',
  'base-registry-username',
  'base-registry-password',
  'push',
  'archive',
  'sbom',
  'external-weights',
  'smoke-test',
  'smoke-test-input',
  'smoke-test-expect',
  'port',
  'workers',
  'max-batch-size',
  'max-batch-delay-ms',
  'server-env',
  'tokenizer',
  'huggingface-endpoint',
  'huggingface-token',
  'class-labels',
  'archive-format',
  'manifests',
  'cpu',
  'memory',
] as const;
export type InputName = (typeof INPUT_NAMES)[number];

/** Inputs whose values are credentials: masked as soon as they are read. */
export const SECRET_INPUTS: readonly InputName[] = [
  'azure-credentials',
  'registry-password',
  'github-token',
  'base-registry-password',
  'huggingface-token',
];

export const DEFAULT_BASE_IMAGE = 'gcr.io/distroless/nodejs24-debian12';
export const DEFAULT_PLATFORMS = ['linux/amd64', 'linux/arm64'];

/** Splits a newline- or comma-separated list, trimming and dropping empties. */
export function splitList(value: string): string[] {
  return value
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/** Parses `KEY=value` lines (comma-separated too when no newline is present). */
export function parseKeyValues(value: string, what: string, input: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = value.includes('\n') ? value.split('\n') : value.split(',');
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      throw new UserError(
        `Input '${input}' has a line that is not ${what}=value: '${line}'.`,
        `Write one ${what}=value per line.`,
      );
    }
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

const PLATFORM = /^linux\/(amd64|arm64)$/;
const SHA256 = /^(sha256:)?[a-f0-9]{64}$/;
const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;

const positiveInt = (input: string, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `Input '${input}' must be a whole number.`)
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `Input '${input}' must be between 1 and ${max}.`);

function parseBool(input: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (['true', 'yes', '1', 'on'].includes(v)) return true;
  if (['false', 'no', '0', 'off'].includes(v)) return false;
  throw new UserError(`Input '${input}' is '${value}', not a boolean.`, `Use 'true' or 'false'.`);
}

function zodCheck<T>(schema: z.ZodType<T>, value: string, input: string, fix: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const msg = r.error.issues[0]?.message ?? `Input '${input}' is invalid.`;
  throw new UserError(msg, fix);
}

/**
 * Reads and validates every input. `get` returns '' for an input that was not given (as core.getInput).
 */
export function readInputs(get: (name: InputName) => string): PackageOptions {
  const opt = (name: InputName): string | undefined => {
    const v = get(name).trim();
    return v === '' ? undefined : v;
  };

  const model = opt('model');
  if (!model) {
    throw new UserError(
      "Input 'model' is required.",
      "Set 'model' to a registered model (e.g. 'sentiment:3').",
    );
  }

  const modelSha256 = opt('model-sha256');
  if (modelSha256 !== undefined && !SHA256.test(modelSha256)) {
    throw new UserError(
      `Input 'model-sha256' is not a sha256 digest: '${modelSha256}'.`,
      'Give 64 hex characters (optionally prefixed with sha256:), as the model-sha256 output prints it.',
    );
  }

  const platforms = splitList(get('platforms') || DEFAULT_PLATFORMS.join(','));
  for (const p of platforms) {
    if (!PLATFORM.test(p)) {
      throw new UserError(
        `Input 'platforms' names '${p}', which this action cannot build (onnxruntime-node ships linux x64 and arm64 binaries).`,
        "Use 'linux/amd64', 'linux/arm64' or both.",
      );
    }
  }

  const externalWeights = (opt('external-weights') ?? 'auto').trim().toLowerCase();
  if (!['auto', 'true', 'false'].includes(externalWeights)) {
    throw new UserError(
      `Input 'external-weights' is '${externalWeights}'.`,
      "Use 'auto' (models of 64 MiB or more), 'true' or 'false'.",
    );
  }

  const smokeTest = (opt('smoke-test') ?? 'auto').toLowerCase();
  if (!['auto', 'process', 'container', 'none'].includes(smokeTest)) {
    throw new UserError(
      `Input 'smoke-test' is '${smokeTest}'.`,
      "Use 'auto', 'process', 'container' or 'none'.",
    );
  }

  let smokeTestInput: unknown;
  const rawSmokeInput = opt('smoke-test-input');
  if (rawSmokeInput !== undefined) {
    try {
      smokeTestInput = JSON.parse(rawSmokeInput);
    } catch (e) {
      throw new UserError(
        `Input 'smoke-test-input' is not valid JSON (${(e as Error).message}).`,
        'Give a JSON array of strings for /predict, or an Open Inference Protocol v2 infer request.',
      );
    }
  }

  const port = zodCheck(
    positiveInt('port', 65535),
    opt('port') ?? '8080',
    'port',
    'Use a port from 1 to 65535.',
  );

  const serverEnv = parseKeyValues(get('server-env'), 'NAME', 'server-env');
  for (const name of Object.keys(serverEnv)) {
    if (!ENV_NAME.test(name)) {
      throw new UserError(
        `Input 'server-env' names '${name}', which is not an environment variable name.`,
        'Use upper-case names like MAX_QUEUE=64.',
      );
    }
  }
  const numeric: Array<[InputName, string, number]> = [
    ['workers', 'WORKERS', 64],
    ['max-batch-size', 'MAX_BATCH_SIZE', 1024],
    ['max-batch-delay-ms', 'MAX_BATCH_DELAY_MS', 60_000],
  ];
  for (const [input, env, max] of numeric) {
    const v = opt(input);
    if (v !== undefined) {
      serverEnv[env] = String(
        zodCheck(positiveInt(input, max), v, input, `Set '${input}' to 1..${max} or leave it empty.`),
      );
    }
  }
  serverEnv.PORT = String(port);

  const registry = (opt('registry') ?? 'ghcr.io').toLowerCase();
  const interop = readInteropInputs(opt);
  if (interop.manifests !== undefined && !parseBool('push', opt('push') ?? 'true')) {
    throw new UserError(
      "Input 'manifests' is set but 'push' is false: the manifests pin the pushed image by digest.",
      "Set 'push: true', or leave 'manifests' empty.",
    );
  }

  return {
    model,
    modelSha256: modelSha256?.replace(/^sha256:/, ''),
    azure: {
      clientId: opt('azure-client-id'),
      tenantId: opt('azure-tenant-id'),
      subscriptionId: opt('azure-subscription-id'),
      resourceGroup: opt('azure-resource-group'),
      workspace: opt('azure-workspace'),
      credentialsJson: opt('azure-credentials'),
      authorityHost: opt('azure-authority-host'),
      resourceManagerEndpoint: opt('azure-resource-manager-endpoint'),
      blobEndpointTemplate: opt('azure-blob-endpoint'),
    },
    registry,
    registryUsername: opt('registry-username'),
    registryPassword: opt('registry-password'),
    githubToken: opt('github-token'),
    insecureRegistries: splitList(get('insecure-registries')),
    image: opt('image'),
    tags: splitList(get('tags')),
    labels: parseKeyValues(get('labels'), 'key', 'labels'),
    platforms: [...new Set(platforms)],
    baseImage: opt('base-image') ?? DEFAULT_BASE_IMAGE,
    baseRegistryUsername: opt('base-registry-username'),
    baseRegistryPassword: opt('base-registry-password'),
    push: parseBool('push', opt('push') ?? 'true'),
    archive: opt('archive'),
    sbom: parseBool('sbom', opt('sbom') ?? 'true'),
    externalWeights: externalWeights as ExternalWeights,
    smokeTest: smokeTest as SmokeTestMode,
    smokeTestInput,
    smokeTestExpect: splitList(get('smoke-test-expect')),
    port,
    serverEnv,
    ...interop,
  };
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/;

/** The tokenizer, labels, archive and manifest inputs (issue: interop). */
function readInteropInputs(
  opt: (name: InputName) => string | undefined,
): Pick<
  PackageOptions,
  | 'tokenizer'
  | 'huggingfaceEndpoint'
  | 'huggingfaceToken'
  | 'classLabels'
  | 'archiveFormat'
  | 'manifests'
  | 'resources'
> {
  const endpoint = opt('huggingface-endpoint');
  if (endpoint !== undefined && !/^https:\/\/[^/\s]+/i.test(endpoint)) {
    throw new UserError(
      `Input 'huggingface-endpoint' is '${endpoint}', not an https URL.`,
      'Use an https:// URL such as https://huggingface.co, or leave it empty.',
    );
  }
  const classLabels = splitList(opt('class-labels') ?? '');
  if (new Set(classLabels).size !== classLabels.length) {
    throw new UserError(
      `Input 'class-labels' names a class twice: '${classLabels.join(',')}'.`,
      'Give one distinct name per output index, e.g. NEGATIVE,POSITIVE.',
    );
  }
  const format = (opt('archive-format') ?? 'oci').toLowerCase();
  const archiveFormat = ({ oci: 'oci', docker: 'docker', 'docker-archive': 'docker' } as const)[
    format as 'oci' | 'docker' | 'docker-archive'
  ];
  if (!archiveFormat) {
    throw new UserError(
      `Input 'archive-format' is '${format}'.`,
      "Use 'oci' (Docker 25+, podman, skopeo) or 'docker' (docker load on any Docker engine).",
    );
  }
  const resources = { cpu: opt('cpu') ?? '1', memory: opt('memory') ?? '1Gi' };
  for (const [input, value] of Object.entries(resources)) {
    if (!QUANTITY.test(value)) {
      throw new UserError(
        `Input '${input}' is '${value}', not a Kubernetes quantity.`,
        input === 'cpu' ? "Use cores like '1', '0.5' or '500m'." : "Use bytes like '512Mi' or '2Gi'.",
      );
    }
  }
  return {
    tokenizer: opt('tokenizer'),
    huggingfaceEndpoint: endpoint?.replace(/\/+$/, ''),
    huggingfaceToken: opt('huggingface-token'),
    classLabels,
    archiveFormat,
    manifests: opt('manifests'),
    resources,
  };
}

/** Context of the workflow run that tags and labels use. */
export interface RunContext {
  repository?: string; // owner/name
  sha?: string;
  /** Who started the run: the user name for the GITHUB_TOKEN on ghcr.io. */
  actor?: string;
  serverUrl?: string; // https://github.com
}

/** Expands `{model-version}`, `{model-name}`, `{sha}`, `{short-sha}` and validates each tag. */
export function expandTags(
  templates: string[],
  vars: { modelName: string; modelVersion: string; sha?: string },
): string[] {
  const list = templates.length > 0 ? templates : ['{model-version}', 'latest'];
  const out: string[] = [];
  for (const t of list) {
    const tag = t.replace(/\{(model-version|model-name|sha|short-sha)\}/g, (_, key: string) => {
      switch (key) {
        case 'model-version':
          return vars.modelVersion;
        case 'model-name':
          return vars.modelName;
        default: {
          if (!vars.sha) {
            throw new UserError(
              `Tag '${t}' uses {${key}}, but the commit sha is unknown.`,
              'Run inside a workflow (GITHUB_SHA) or pass --sha to the CLI.',
            );
          }
          return key === 'sha' ? vars.sha : vars.sha.slice(0, 7);
        }
      }
    });
    // A tag may not hold characters the distribution spec forbids; model versions like "1.0+x" need care.
    const safe = tag.replace(/[^A-Za-z0-9_.-]/g, '-');
    if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(safe)) {
      throw new UserError(
        `Tag '${tag}' is not a valid image tag.`,
        'Tags are up to 128 letters, digits, _ . and -, not starting with . or -.',
      );
    }
    if (!out.includes(safe)) out.push(safe);
  }
  return out;
}

/** The default image repository: `<registry>/<owner>/<model-name>`, lowercased. */
export function defaultImageName(
  registry: string,
  repository: string | undefined,
  modelName: string,
): string {
  const owner = repository?.split('/')[0];
  if (!owner) {
    throw new UserError(
      'Cannot derive the image name: GITHUB_REPOSITORY is not set.',
      "Set the 'image' input (e.g. ghcr.io/my-org/my-model).",
    );
  }
  const name = modelName
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+/, '');
  return `${registry}/${owner}/${name}`.toLowerCase();
}
