/**
 * Daemonless image builder: public API.
 *
 *   parseImageReference(ref: string): ImageReference
 *     `registry/namespace/name[:tag][@digest]` with Docker Hub defaults; repository lowercased.
 *
 *   buildImage(opts: BuildOptions): Promise<BuiltImage>
 *     opts.base.image: 'oci-layout:PATH' | 'oci-archive:PATH' | registry reference. For each of
 *     opts.base.platforms (each must be in the base, else a UserError naming the base's platforms) appends
 *     the runtime layer (opts.server.runtime[platform], a dir from stageRuntime) and the model layer
 *     (opts.model.dir). Blobs are written to opts.output.workDir (an OCI layout); base layers stay where they are until an output needs
 *     them. BuiltImage.digest (index digest for >1 platform, else the manifest digest),
 *     BuiltImage.platforms[i].{platform,digest,size,configDigest} are known before any push.
 *     opts.registryAuth + opts.pushRegistry: push credentials, reused for a base on the same host;
 *     opts.baseAuth: credentials for a base elsewhere (else anonymous).
 *     opts.reuseLayersFrom: earlier images (pass the target's tags, e.g. `ghcr.io/o/m:latest`): a layer
 *     whose diff_id they already hold (the runtime, on a new model version) is fetched, verified to
 *     decompress to the diff_id computed from our files, and referenced instead of compressed again;
 *     the pushed digest is the same as a full build's with the same compressor.
 *
 *   pushImage(img, target: ImageReference, tags: string[], opts: PushOptions): Promise<PushResult>
 *     Blobs (HEAD-skip, mount from the base repo on the same registry, monolithic or chunked upload,
 *     retried), then manifests, then the index, then tags last. Returns { image, digest,
 *     platformDigests, tags, bytesUploaded, blobsUploaded, blobsSkipped, blobsMounted }.
 *
 *   writeOciArchive(img, path, tags?, dockerPlatform?)       OCI layout tar (skopeo, podman; docker load via manifest.json).
 *   writeDockerArchive(img, path, platform, repoTags): Promise<void>
 *     `docker load` input for one platform (every engine version).
 *
 * Typical pipeline: stageRuntime per platform -> buildImage -> writeDockerArchive(host platform) for a
 * container smoke test -> pushImage (nothing is pushed before).
 */
export {
  parseImageReference,
  formatReference,
  isValidTag,
  isInsecureRegistry,
  type ImageReference,
} from './reference.js';
export {
  buildImage,
  MODEL_LABELS,
  MODEL_PATH,
  SERVER_PATH,
  type BuildOptions,
  type BuiltImage,
  type BuiltPlatform,
} from './assemble.js';
export { pushImage, type PushOptions, type PushResult } from './push.js';
export { writeOciArchive, writeDockerArchive } from './archive.js';
export type { RegistryCredentials } from './auth.js';
export { RegistryClient } from './registry.js';
export { parsePlatform, platformKey } from './oci.js';
