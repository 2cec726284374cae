/**
 * What the run reports: the action's outputs, the metadata JSON and the job summary (markdown).
 * Pure functions of the pipeline's result.
 */
import { formatBytes } from './util/progress.js';
import type { SmokeResult } from './smoke-test.js';
import type { TokenizerInfo } from './model-source/tokenizer.js';
import type { ArchiveFormat } from './inputs.js';

export interface PackageResult {
  model: { name: string; version: string; sha256: string; source: string; files: number; bytes: number };
  image: {
    /** Repository without tag, e.g. ghcr.io/org/sentiment. */
    name: string;
    digest: string;
    tags: string[];
    platformDigests: Record<string, string>;
    /** Compressed bytes of config + layers per platform. */
    platformSizes: Record<string, number>;
    labels: Record<string, string>;
    base: { name: string; digest: string };
    pushed: boolean;
    archive?: string;
    /** `oci` or `docker` (docker-archive), when `archive` is set. */
    archiveFormat?: ArchiveFormat;
    /** The platforms the archive holds. */
    archivePlatforms?: string[];
    /** The platform `docker load` reads from the archive. */
    dockerLoadPlatform?: string;
  };
  upload?: { blobsUploaded: number; blobsSkipped: number; bytesUploaded: number };
  smokeTests: SmokeResult[];
  /** The tokenizer the `tokenizer` input added (source, files, Hub commit). */
  tokenizer?: TokenizerInfo;
  /** The id2label the `class-labels` input wrote. */
  classLabels?: Record<string, string>;
  /** The folder and files the `manifests` input wrote. */
  manifests?: { dir: string; files: string[] };
  /** The CycloneDX BOM: its file and the digest of the OCI artifact that attaches it to the image. */
  sbom?: { path: string; digest: string; attached: boolean };
}

export function buildOutputs(r: PackageResult): Record<string, string> {
  return {
    image: `${r.image.name}@${r.image.digest}`,
    'image-name': r.image.name,
    digest: r.image.digest,
    tags: r.image.tags.join(','),
    'platform-digests': JSON.stringify(r.image.platformDigests),
    'model-name': r.model.name,
    'model-version': r.model.version,
    'model-sha256': r.model.sha256,
    sbom: r.sbom?.path ?? '',
    'sbom-digest': r.sbom?.digest ?? '',
    'smoke-test': JSON.stringify(
      Object.fromEntries(
        r.smokeTests.map((s) => [
          s.mode,
          { input: s.request.body, path: s.request.path, predictions: s.predictions, latencyMs: s.latencyMs },
        ]),
      ),
    ),
    ...(r.manifests && { manifests: r.manifests.dir }),
    metadata: JSON.stringify({
      model: r.model,
      image: r.image,
      upload: r.upload,
      ...(r.tokenizer && { tokenizer: r.tokenizer }),
      ...(r.classLabels && { classLabels: r.classLabels }),
      ...(r.manifests && { manifests: r.manifests }),
      sbom: r.sbom,
      smokeTests: r.smokeTests.map((s) => ({
        mode: s.mode,
        predictions: s.predictions,
        latencyMs: s.latencyMs,
      })),
    }),
  };
}

/** Escapes a value for a markdown table cell. */
function cell(v: string): string {
  return v.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Where the BOM is: the file, and in the registry the referrer to fetch with oras. */
function sbomCell(r: PackageResult): string {
  const s = r.sbom as NonNullable<PackageResult['sbom']>;
  const file = `CycloneDX 1.6 JSON \`${cell(s.path)}\``;
  if (!s.attached) return `${file}; referrer \`${s.digest}\`${r.image.archive ? ' in the OCI archive' : ''}`;
  return `${file}; attached to the image as \`${cell(r.image.name)}@${s.digest}\` (\`oras discover ${cell(r.image.name)}@${r.image.digest}\`)`;
}

export function buildSummary(r: PackageResult): string {
  const rows: Array<[string, string]> = [
    ['Model', `\`${cell(r.model.name)}\` (${cell(r.model.source)})`],
    ['Version', cell(r.model.version)],
    ['Model sha256', `\`${r.model.sha256}\``],
    ['Model size', `${formatBytes(r.model.bytes)} in ${r.model.files} file(s)`],
    ['Image', `\`${cell(r.image.name)}@${r.image.digest}\``],
    ['Tags', r.image.tags.map((t) => `\`${cell(t)}\``).join(', ') || '(none)'],
    ['Pushed', r.image.pushed ? 'yes' : 'no'],
    ['Base image', `\`${cell(r.image.base.name)}@${r.image.base.digest}\``],
  ];
  if (r.tokenizer) {
    rows.push([
      'Tokenizer',
      `\`${cell(r.tokenizer.source)}\`${r.tokenizer.commit ? ` at \`${r.tokenizer.commit}\`` : ''} (${r.tokenizer.files.join(', ')})`,
    ]);
  }
  if (r.manifests) rows.push(['Manifests', r.manifests.files.map((f) => `\`${cell(f)}\``).join(', ')]);
  if (r.image.archive) {
    const kind = r.image.archiveFormat === 'docker' ? 'docker-archive' : 'OCI archive';
    rows.push([kind, `\`${cell(r.image.archive)}\``]);
  }
  if (r.sbom) rows.push(['SBOM', sbomCell(r)]);
  if (r.upload) {
    rows.push([
      'Upload',
      `${r.upload.blobsUploaded} blob(s), ${formatBytes(r.upload.bytesUploaded)} uploaded; ${r.upload.blobsSkipped} already present`,
    ]);
  }
  const lines = [
    '## Package ONNX Model',
    '',
    '| | |',
    '| --- | --- |',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '### Platforms',
    '',
    '| Platform | Digest | Size |',
    '| --- | --- | --- |',
    ...Object.entries(r.image.platformDigests).map(
      ([p, d]) => `| ${p} | \`${d}\` | ${formatBytes(r.image.platformSizes[p] ?? 0)} |`,
    ),
    '',
    '### Smoke test',
    '',
  ];
  if (r.smokeTests.length === 0) {
    lines.push('Skipped (`smoke-test: none`).');
  } else {
    lines.push(
      '| Mode | Request | Predictions | Latency (first / median of runs) |',
      '| --- | --- | --- | --- |',
    );
    for (const s of r.smokeTests) {
      const body = JSON.stringify(s.request.body);
      const shown = body.length > 120 ? `${body.slice(0, 117)}...` : body;
      lines.push(
        `| ${s.mode} | \`POST ${s.request.path}\` \`${cell(shown)}\` | ${cell(s.predictions.join(', '))} | ${s.latencyMs.first} ms / ${s.latencyMs.median} ms (${s.latencyMs.runs}) |`,
      );
    }
  }
  lines.push('');
  return lines.join('\n');
}
