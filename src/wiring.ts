/**
 * The real I/O behind the pipeline's ports: Azure model sources, runtime staging, the image builder and
 * registry client, the host server process and the local Docker engine.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dockerEngineVersion, runImageContainer } from './docker.js';
import {
  buildImage,
  type BuiltImage,
  parseImageReference,
  pushImage,
  RegistryClient,
  type RegistryCredentials,
  writeDockerArchive,
  writeOciArchive,
} from './image/index.js';
import { resolveRegistryCredentials } from './image/credentials.js';
import { pushReferrer } from './image/referrers.js';
import { EXTERNAL_WEIGHTS_AUTO_BYTES, type PackageOptions } from './inputs.js';
import { writeManifests } from './manifests.js';
import { externalizeWeights, weightsFileName } from './model-layout.js';
import { byteOrder, hashFile, modelDigest } from './model-source/integrity.js';
import { loadModel, type Model, parseModelReference } from './model-source/index.js';
import { huggingfaceEndpoint } from './model-source/tokenizer.js';
import type { BuiltImageInfo, PipelineDeps } from './pipeline.js';
import { BlobStore } from './image/blobs.js';
import { GZIP_LAYER_TYPES, platformKey } from './image/oci.js';
import { reusableLayers, type ReusableLayer } from './image/reuse.js';
import {
  defaultCacheDir,
  findServerBundle,
  hostPlatform,
  loadShippedRuntimeLayers,
  provideRuntimes,
  type ProvidedRuntime,
  stageRuntime,
} from './runtime/index.js';
import { serverEnv, smokeTestProcessEnv } from './server-env.js';
import { startServerProcess } from './server-process.js';
import { createdTime, sourceDateEpoch } from './util/source-date-epoch.js';
import type { Logger } from './util/log.js';

export interface WiringOptions {
  opts: PackageOptions;
  logger: Logger;
  workDir: string;
  env: NodeJS.ProcessEnv;
  /** The workflow's actor (the GITHUB_TOKEN's user name on ghcr.io). */
  actor?: string;
  getIdToken?: (audience: string) => Promise<string>;
}

type Image = BuiltImage & BuiltImageInfo;

export function createDeps(w: WiringOptions): PipelineDeps<Image> {
  const { opts, logger } = w;
  // Credentials per registry host, resolved once each (explicit inputs, the Docker config, GITHUB_TOKEN
  // for ghcr.io only, else anonymous) and only for the hosts this run talks to.
  const resolved = new Map<string, Promise<RegistryCredentials | undefined>>();
  const credentialsFor = (host: string, base: boolean): Promise<RegistryCredentials | undefined> => {
    const key = `${base ? 'base' : 'push'} ${host}`;
    let p = resolved.get(key);
    if (!p) {
      const explicit = base
        ? {
            username: opts.baseRegistryUsername,
            password: opts.baseRegistryPassword,
            names: ['base-registry-username', 'base-registry-password'] as [string, string],
          }
        : {
            username: opts.registryUsername,
            password: opts.registryPassword,
            names: ['registry-username', 'registry-password'] as [string, string],
          };
      p = resolveRegistryCredentials(host, {
        explicit,
        github: { actor: w.actor, token: opts.githubToken },
        env: w.env,
        logger,
      }).then((r) => r.credentials);
      resolved.set(key, p);
    }
    return p;
  };
  /** The base image's registry host, when it is pulled from one. */
  const baseHost = /^oci-(layout|archive):/.test(opts.baseImage)
    ? undefined
    : parseImageReference(opts.baseImage).registry;

  const imageWorkDir = join(w.workDir, 'image');
  // The layers earlier images offer, read once per list of references (the runtime and the build share it).
  const offers = new Map<string, Promise<Map<string, ReusableLayer>>>();
  const reusableFrom = (refs: string[]): Promise<Map<string, ReusableLayer>> => {
    const key = refs.join('\n');
    let p = offers.get(key);
    if (!p) {
      p = (async () => {
        const registry = parseImageReference(refs[0] as string).registry;
        const auth = await credentialsFor(registry, false);
        return reusableLayers(refs, {
          logger,
          layerMediaType: GZIP_LAYER_TYPES,
          pushRegistry: registry,
          ...(auth && { registryAuth: auth }),
          insecureRegistries: opts.insecureRegistries,
        });
      })();
      offers.set(key, p);
    }
    return p;
  };

  const stageHere = async (platform: string): Promise<string> =>
    (await stageRuntime(platform, { logger, serverDir: findServerBundle() })).dir;

  return {
    logger,
    workDir: w.workDir,
    hostPlatform: hostPlatform(),
    fetch: (input, init) => fetch(input, init),

    fetchModel: (o, destDir) =>
      loadModel(parseModelReference(o.model), {
        azure: o.azure,
        destDir,
        expectedSha256: o.modelSha256,
        logger,
        getIdToken: w.getIdToken,
        tokenizer: o.tokenizer
          ? {
              ref: o.tokenizer,
              endpoint: huggingfaceEndpoint(o.huggingfaceEndpoint, w.env),
              token: o.huggingfaceToken,
            }
          : undefined,
        classLabels: o.classLabels,
      }),

    prepareRuntimes(platforms, reuseFrom) {
      const keys = [...new Set(platforms.map((p) => platformKey(p)))];
      const provided = (async () => {
        const serverDir = findServerBundle();
        // The shipped diff_ids are those of mtime-0 layers: SOURCE_DATE_EPOCH makes other layers.
        const shipped = sourceDateEpoch(w.env)
          ? undefined
          : await loadShippedRuntimeLayers(serverDir, logger);
        const reusable = shipped && reuseFrom.length > 0 ? await reusableFrom(reuseFrom) : new Map();
        return provideRuntimes({
          platforms: keys,
          unpack: [hostPlatform()],
          shipped,
          reusable,
          store: new BlobStore(imageWorkDir),
          cacheDir: defaultCacheDir(),
          stage: (platform) => stageHere(platform),
          logger,
        });
      })();
      return Object.fromEntries(keys.map((k) => [k, provided.then((r) => r[k] as Promise<ProvidedRuntime>)]));
    },

    async prepareModel(m, hostRuntime, when) {
      const onnx = join(m.dir, m.modelFile);
      if (when === 'auto' && (await stat(onnx)).size < EXTERNAL_WEIGHTS_AUTO_BYTES) return m;
      logger.info(`Moving the weights of ${m.modelFile} into ${weightsFileName(m.modelFile)}`);
      const outcome = await externalizeWeights({
        runtimeDir: await hostRuntime(),
        dir: m.dir,
        modelFile: m.modelFile,
        logger,
      });
      if (!outcome.changed) {
        logger.info(`Shipping ${m.modelFile} as it is: ${outcome.reason}.`);
        return m;
      }
      // Paths in `files` are relative to the download folder, which may hold the model folder nested.
      const entry = m.files.find((f) => f.path === m.modelFile || f.path.endsWith(`/${m.modelFile}`));
      const prefix = entry ? entry.path.slice(0, -m.modelFile.length) : '';
      const rehashed = await Promise.all(
        [outcome.modelFile, outcome.weightsFile].map(async (name) => {
          const h = await hashFile(join(m.dir, name));
          return { path: `${prefix}${name}`, size: h.size, sha256: h.sha256 };
        }),
      );
      const files = [...m.files.filter((f) => f !== entry), ...rehashed].sort((a, b) =>
        byteOrder(a.path, b.path),
      );
      const shipped: Model = {
        ...m,
        files,
        sha256: modelDigest(files),
        original: { sha256: m.sha256, files: m.files },
      };
      logger.info(
        `Shipping ${m.modelFile} + ${outcome.weightsFile}: sha256 ${shipped.sha256} (the original's is ${m.sha256})`,
      );
      return shipped;
    },

    startServer(runtimeDir, model, env) {
      return startServerProcess({
        runtimeDir,
        modelDir: model.dir,
        env: smokeTestProcessEnv(model, env),
      });
    },

    async buildImage(req) {
      const target = parseImageReference(req.imageName);
      // The push host's credentials serve a base on the same host unless base-registry-* are set.
      const pushCreds =
        opts.push || baseHost === target.registry ? await credentialsFor(target.registry, false) : undefined;
      const baseCreds =
        baseHost && (baseHost !== target.registry || opts.baseRegistryUsername || opts.baseRegistryPassword)
          ? await credentialsFor(baseHost, true)
          : undefined;
      const img = await buildImage({
        base: { image: opts.baseImage, platforms: opts.platforms },
        model: {
          dir: req.model.dir,
          name: req.model.name,
          version: req.model.version,
          // The model's identity (what model-sha256 pins); the shipped files' digest has its own label.
          sha256: req.model.original?.sha256 ?? req.model.sha256,
          source: req.model.source,
        },
        server: {
          runtime: Object.fromEntries(
            opts.platforms.flatMap((p) => {
              const dir = req.runtimes[p]?.dir;
              return dir ? [[p, dir]] : [];
            }),
          ),
          stageMissingRuntime: stageHere,
          runtimeLayers: Object.fromEntries(
            Object.entries(req.runtimes).flatMap(([p, r]) => (r.layer ? [[p, r.layer]] : [])),
          ),
          env: serverEnv(req.model, opts.serverEnv),
          port: opts.port,
        },
        metadata: {
          labels: req.labels,
          source: req.labels['org.opencontainers.image.source'],
          revision: req.labels['org.opencontainers.image.revision'],
          sourceDateEpoch: sourceDateEpoch(w.env),
        },
        registries: {
          registryAuth: pushCreds,
          pushRegistry: target.registry,
          baseAuth: baseCreds,
          insecureRegistries: opts.insecureRegistries,
        },
        ...(req.reuseLayersFrom.length > 0 && {
          reuse: { layers: await reusableFrom(req.reuseLayersFrom) },
        }),
        output: { workDir: imageWorkDir },
        logger,
      });
      return {
        ...img,
        platformDigests: Object.fromEntries(img.platforms.map((p) => [p.platform, p.digest])),
        platformSizes: Object.fromEntries(img.platforms.map((p) => [p.platform, p.size])),
      };
    },

    async writeSbom(req) {
      // The SBOM's modules (CycloneDX, onnxruntime for the graph) load when it is written, beside the
      // smoke test, not at start-up.
      const [{ hashFiles }, { createSbom, sbomPath }] = await Promise.all([
        import('./sbom/gather.js'),
        import('./sbom/index.js'),
      ]);
      const host = hostPlatform();
      const hostRuntimeDir = req.runtimes[host]?.dir ?? (await stageHere(host));
      const serverDir = findServerBundle();
      const repoRoot = dirname(dirname(serverDir));
      const tool = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
      const img = req.image;
      const tok = req.model.tokenizer;
      const sbom = await createSbom({
        tool: { name: 'package-onnx-model', version: tool.version },
        image: {
          name: req.imageName,
          digest: img.digest,
          mediaType: img.mediaType,
          size: img.bytes.length,
          created: createdTime(img.labels['org.opencontainers.image.created'], w.env),
          tags: req.tags,
          platformDigests: img.platformDigests,
          base: img.base,
        },
        model: {
          ...req.model,
          tokenizer: tok && {
            source: tok.source,
            ...((tok.commit ?? tok.revision) && { revision: (tok.commit ?? tok.revision) as string }),
            files: await hashFiles(req.model.dir, tok.files),
          },
        },
        runtimes: Object.fromEntries(
          opts.platforms.map((p) => {
            const r = req.runtimes[p];
            if (r?.files) return [p, { files: r.files }];
            if (r?.dir) return [p, { dir: r.dir }];
            throw new Error(`no runtime for ${p}`);
          }),
        ),
        hostRuntimeDir,
        serverDir,
        repoRoot,
        path: sbomPath(w.env, req.imageName, img.digest),
      });
      logger.info(`Wrote the SBOM ${sbom.path} (CycloneDX 1.6, ${sbom.bytes.length} bytes)`);
      return sbom;
    },

    writeOciArchive: (img, path, imageName, tags, dockerPlatform, referrers) =>
      writeOciArchive(
        img,
        path,
        tags.map((t) => `${imageName}:${t}`),
        dockerPlatform,
        referrers,
      ),

    writeDockerArchive: (img, path, platform, repoTags) => writeDockerArchive(img, path, platform, repoTags),

    dockerEngineVersion: () => dockerEngineVersion(),

    writeManifests,

    runContainer: (archive, imageRef) => runImageContainer({ archive, imageRef, logger }),

    async pushImage(img, imageName, tags) {
      const target = parseImageReference(imageName);
      const r = await pushImage(img, target, tags, {
        credentials: await credentialsFor(target.registry, false),
        insecureRegistries: opts.insecureRegistries,
        logger,
      });
      return {
        digest: r.digest,
        tags: r.tags,
        bytesUploaded: r.bytesUploaded,
        blobsUploaded: r.blobsUploaded,
        blobsSkipped: r.blobsSkipped,
      };
    },

    async attachReferrer(artifact, imageName) {
      const target = parseImageReference(imageName);
      const credentials = await credentialsFor(target.registry, false);
      const client = new RegistryClient({
        registry: target.registry,
        ...(credentials && { credentials }),
        insecureRegistries: opts.insecureRegistries,
        logger,
      });
      return pushReferrer(client, target.repository, artifact, logger);
    },
  };
}
