/**
 * The build's CycloneDX 1.6 BOM, made with the CycloneDX project's own library. Pure: the same facts
 * always give the same bytes (lists sorted by the library, timestamp = the image's `created`, serial
 * number a UUIDv5 of the image digest and the BOM's content).
 *
 *   metadata.component   the image (container, pkg:oci purl, its digest)
 *   components           the model (machine-learning-model, every file hashed, source, model card),
 *                        the inference server (with the npm packages compiled into its bundle nested),
 *                        onnxruntime-node (its native files per platform nested) and onnxruntime-common,
 *                        the base image (container, by digest)
 *   dependencies         image -> model, server, base; server -> its packages, onnxruntime-node -> common
 */
import { createHash } from 'node:crypto';
// Subpath imports: the package root also loads the validators, whose schema lookup needs __dirname,
// which the ESM action bundle does not have (validation runs in the tests).
import * as Enums from '@cyclonedx/cyclonedx-library/Enums';
import { Factories as LicenseFactories } from '@cyclonedx/cyclonedx-library/Contrib/License';
import * as Models from '@cyclonedx/cyclonedx-library/Models';
import * as Serialize from '@cyclonedx/cyclonedx-library/Serialize';
import * as Spec from '@cyclonedx/cyclonedx-library/Spec';
import { PackageURL } from 'packageurl-js';
import spdxExpressionParse from 'spdx-expression-parse';
import type { BomFacts, FileFact, NpmPackageFact } from './facts.js';
import { modelCard } from './model-card.js';

export const BOM_MEDIA_TYPE = 'application/vnd.cyclonedx+json';
/** Namespace of this tool's CycloneDX property names. */
export const PROP = 'package-onnx-model';

const SHA256 = Enums.HashAlgorithm['SHA-256'];
const SHA512 = Enums.HashAlgorithm['SHA-512'];
const licenses = new LicenseFactories.LicenseFactory((expr: string) => {
  spdxExpressionParse(expr);
});

const hex = (digest: string): string => digest.replace(/^sha256:/, '');

function prop(name: string, value: string): Models.Property {
  return new Models.Property(`${PROP}:${name}`, value);
}

/** `pkg:oci/<last segment>@<digest>?repository_url=<registry/repository>` (the purl spec's oci type). */
export function ociPurl(name: string, digest: string): string {
  const last = name.split('/').pop() ?? name;
  return new PackageURL('oci', undefined, last.toLowerCase(), digest, {
    repository_url: name.toLowerCase(),
  }).toString();
}

function npmPurl(p: NpmPackageFact): string {
  const [scope, name] = p.name.startsWith('@') ? p.name.split('/') : [undefined, p.name];
  return new PackageURL('npm', scope, name ?? p.name, p.version, undefined).toString();
}

function fileComponent(f: FileFact, ref: string): Models.Component {
  const c = new Models.Component(Enums.ComponentType.File, f.path, { bomRef: ref });
  c.hashes.set(SHA256, f.sha256);
  c.properties.add(prop('size', String(f.size)));
  return c;
}

function npmComponent(p: NpmPackageFact): Models.Component {
  const purl = npmPurl(p);
  const c = new Models.Component(Enums.ComponentType.Library, p.name, {
    bomRef: purl,
    version: p.version,
    purl,
  });
  if (p.license) c.licenses.add(licenses.makeFromString(p.license));
  const sri = /^sha512-([A-Za-z0-9+/=]+)$/.exec(p.integrity ?? '');
  if (sri?.[1]) c.hashes.set(SHA512, Buffer.from(sri[1], 'base64').toString('hex'));
  return c;
}

/** An external reference for a source that is a URL (azureml://, https://); local paths are none. */
function sourceReference(source: string, comment: string): Models.ExternalReference | undefined {
  if (!/^(https?|azureml):\/\//i.test(source)) return undefined;
  return new Models.ExternalReference(source, Enums.ExternalReferenceType.Distribution, { comment });
}

/** RFC 9562 UUIDv5 (SHA-1, name-based): node:crypto only makes random (v4) UUIDs. */
export function uuidV5(name: string, namespace: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  const h = createHash('sha1').update(ns).update(name).digest().subarray(0, 16);
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const s = h.toString('hex');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}
/** RFC 9562's URL namespace: serial numbers are v5 UUIDs of the image's pkg:oci purl and content. */
const URL_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

function buildModel(f: BomFacts): Models.Component {
  const m = f.model;
  const c = new Models.Component(Enums.ComponentType.MachineLearningModel, m.name, {
    bomRef: 'model',
    version: m.version,
    description: `ONNX model served from /app/model (${m.modelFile})`,
  });
  const ref = sourceReference(m.source, 'Where the model was downloaded from');
  if (ref) c.externalReferences.add(ref);
  c.properties.add(prop('model:source', m.source));
  c.properties.add(prop('model:sha256', m.sha256));
  c.properties.add(prop('model:file', m.modelFile));
  if (m.original) {
    // The shipped files are the original's graph with its weights moved to an external data file.
    c.properties.add(prop('model:original:sha256', m.original.sha256));
    for (const f of m.original.files) c.properties.add(prop(`model:original:file:${f.path}`, f.sha256));
  }
  for (const file of m.files) c.components.add(fileComponent(file, `model:file:${file.path}`));
  if (m.tokenizer) {
    const t = m.tokenizer;
    const tok = new Models.Component(Enums.ComponentType.Data, 'tokenizer', {
      bomRef: 'model:tokenizer',
      ...(t.revision && { version: t.revision }),
    });
    const tref = sourceReference(t.source, 'Where the tokenizer was fetched from');
    if (tref) tok.externalReferences.add(tref);
    tok.properties.add(prop('tokenizer:source', t.source));
    if (t.revision) tok.properties.add(prop('tokenizer:revision', t.revision));
    for (const file of t.files) tok.components.add(fileComponent(file, `model:tokenizer:file:${file.path}`));
    c.components.add(tok);
  }
  return c;
}

function buildServer(f: BomFacts): Models.Component {
  const s = f.server;
  // A private package of this repository: no purl (it is not on npm).
  const c = new Models.Component(Enums.ComponentType.Application, s.name, {
    bomRef: 'server',
    version: s.version,
    description: 'Inference server bundle in /app/server (the npm packages compiled into it are nested)',
  });
  if (s.license) c.licenses.add(licenses.makeFromString(s.license));
  for (const file of s.files) c.components.add(fileComponent(file, `server:file:${file.path}`));
  for (const p of s.packages) c.components.add(npmComponent(p));
  return c;
}

function buildRuntime(f: BomFacts): Models.Component[] {
  const ort = npmComponent(f.runtime.ort);
  const common = npmComponent(f.runtime.common);
  for (const { platform, files } of f.runtime.platforms) {
    for (const file of files) {
      const lib = fileComponent(file, `${ort.bomRef.value ?? ''}:${platform}:${file.path}`);
      lib.properties.add(prop('platform', platform));
      ort.components.add(lib);
    }
  }
  ort.dependencies.add(common.bomRef);
  return [ort, common];
}

/** An image by digest; a local `oci-layout:`/`oci-archive:` one has no registry location for a purl. */
function containerComponent(
  ref: string,
  name: string,
  digest: string,
  description: string,
): Models.Component {
  const c = new Models.Component(Enums.ComponentType.Container, name, {
    bomRef: ref,
    version: digest,
    ...(!/^oci-(layout|archive):/.test(name) && { purl: ociPurl(name, digest) }),
    description,
  });
  c.hashes.set(SHA256, hex(digest));
  return c;
}

function buildImage(f: BomFacts): Models.Component {
  const i = f.image;
  const c = containerComponent(
    'image',
    i.name,
    i.digest,
    `Inference image for ${f.model.name} ${f.model.version}`,
  );
  c.properties.add(prop('image:media-type', i.mediaType));
  for (const t of i.tags) c.properties.add(prop('image:tag', t));
  for (const [p, d] of Object.entries(i.platformDigests)) c.properties.add(prop(`image:platform:${p}`, d));
  return c;
}

type Json = Record<string, unknown>;

/**
 * The BOM as JSON text (2-space indented, newline-terminated). The library has no model card model
 * yet, so the card is added to the model component of the library's normalized output.
 */
export function buildBom(f: BomFacts): string {
  const image = buildImage(f);
  const model = buildModel(f);
  const server = buildServer(f);
  const [ort, common] = buildRuntime(f) as [Models.Component, Models.Component];
  const base = containerComponent('base-image', f.image.base.name, f.image.base.digest, 'Base image');
  const tool = new Models.Component(Enums.ComponentType.Application, f.tool.name, {
    bomRef: 'tool',
    version: f.tool.version,
  });
  const bom = new Models.Bom({
    metadata: new Models.Metadata({
      timestamp: new Date(f.image.created),
      component: image,
      tools: new Models.Tools({ components: new Models.ComponentRepository([tool]) }),
    }),
    components: new Models.ComponentRepository([model, server, ort, common, base]),
  });
  image.dependencies.add(model.bomRef);
  image.dependencies.add(server.bomRef);
  image.dependencies.add(base.bomRef);
  server.dependencies.add(ort.bomRef);
  for (const p of server.components) server.dependencies.add(p.bomRef);

  const normalized = new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6)
    .makeForBom()
    .normalize(bom, { sortLists: true }) as unknown as Json;
  const components = normalized['components'] as Json[];
  const modelJson = components.find((c) => c['bom-ref'] === 'model');
  if (modelJson) modelJson['modelCard'] = modelCard(f.model);
  // Deterministic and unique per content: the serial is derived from everything else in the BOM.
  const body = JSON.stringify(normalized);
  normalized['serialNumber'] =
    `urn:uuid:${uuidV5(`${ociPurl(f.image.name, f.image.digest)}\n${body}`, URL_NAMESPACE)}`;
  const ordered: Json = {
    $schema: 'http://cyclonedx.org/schema/bom-1.6.schema.json',
    bomFormat: 'CycloneDX',
    specVersion: '1.6',
    serialNumber: normalized['serialNumber'],
    version: 1,
    ...normalized,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
