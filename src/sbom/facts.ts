/**
 * What a BOM says about one build, gathered by `src/sbom/gather.ts` and turned into CycloneDX by
 * `src/sbom/bom.ts`. Plain data: hashes are lowercase hex without an algorithm prefix.
 */

export interface FileFact {
  /** '/'-separated, relative to the component's root. */
  path: string;
  size: number;
  sha256: string;
}

/** One tensor of the ONNX graph, as onnxruntime reports it: symbolic dimensions keep their names. */
export interface TensorFact {
  name: string;
  /** onnxruntime's element type (`float32`, `int64`, `string`, ...), or `non-tensor`. */
  type: string;
  shape: Array<number | string>;
}

export interface ModelFacts {
  name: string;
  version: string;
  /** The source reference: azureml:// asset id or registry URI, URL, or local path. */
  source: string;
  /** Model digest (sha256 over the sorted file manifest). */
  sha256: string;
  files: FileFact[];
  /**
   * The model as fetched, when the shipped files differ from it (`external-weights` moved the weights
   * into a data file): `sha256` and `files` above describe what the image holds.
   */
  original?: { sha256: string; files: FileFact[] };
  /** The .onnx file served, relative to the model folder. */
  modelFile: string;
  /** A tokenizer added to the model (not shipped with it), with its pinned origin. */
  tokenizer?: { source: string; revision?: string; files: FileFact[] };
  /** Has a tokenizer.json: served as a text classifier through /predict. */
  textModel: boolean;
  inputs: TensorFact[];
  outputs: TensorFact[];
  /** Class names by output index, from config.json `id2label`. */
  labels: string[];
  /** config.json fields that name the architecture. */
  modelType?: string;
  architecture?: string;
}

export interface NpmPackageFact {
  name: string;
  version: string;
  /** The package.json `license` (an SPDX expression, normally). */
  license?: string;
  /** `sha512-<base64>` from package-lock.json. */
  integrity?: string;
}

export interface ServerFacts {
  name: string;
  version: string;
  license?: string;
  /** The bundle's files (index.js, licenses.txt, ...). */
  files: FileFact[];
  /** npm packages compiled into the bundle. */
  packages: NpmPackageFact[];
}

export interface RuntimeFacts {
  ort: NpmPackageFact;
  common: NpmPackageFact;
  /** onnxruntime-node's native files staged for each platform (`bin/napi-v6/linux/<arch>/...`). */
  platforms: Array<{ platform: string; files: FileFact[] }>;
}

export interface ImageFacts {
  /** `registry/repository`. */
  name: string;
  digest: string;
  mediaType: string;
  /** RFC 3339: the image config's `created` (SOURCE_DATE_EPOCH when set). */
  created: string;
  tags: string[];
  platformDigests: Record<string, string>;
  base: { name: string; digest: string };
}

export interface BomFacts {
  tool: { name: string; version: string };
  image: ImageFacts;
  model: ModelFacts;
  server: ServerFacts;
  runtime: RuntimeFacts;
}
