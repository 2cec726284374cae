/**
 * Layer reuse from earlier images: reads the manifests and configs of references that may already hold
 * our layers (normally the target repository's tags) and maps each layer's diff_id (sha256 of its
 * uncompressed tar) to the compressed blob the registry has. A layer we are about to build whose diff_id
 * is in the map is referenced instead of compressed again: the content is the same by construction,
 * and with the same compressor the blob is byte-identical to what we would produce.
 */
import type { Logger } from '../util/log.js';
import type { RegistryCredentials } from './auth.js';
import { parseManifest, type Manifest } from './oci.js';
import { formatReference, parseImageReference } from './reference.js';
import { RegistryClient } from './registry.js';

export interface ReusableLayer {
  digest: string;
  size: number;
  mediaType: string;
  diffId: string;
  client: RegistryClient;
  repository: string;
}

export interface ReuseOptions {
  logger: Logger;
  /** Only layers of this media type are reused (a manifest never mixes OCI and Docker types). */
  layerMediaType: string;
  pushRegistry?: string;
  registryAuth?: RegistryCredentials;
  insecureRegistries?: string[];
  fetch?: typeof fetch;
  /** Clients already made (per registry host), to share connections and tokens. */
  clients?: Map<string, RegistryClient>;
}

export async function reusableLayers(
  refs: string[],
  opts: ReuseOptions,
): Promise<Map<string, ReusableLayer>> {
  const out = new Map<string, ReusableLayer>();
  const clients = opts.clients ?? new Map<string, RegistryClient>();
  for (const text of refs) {
    try {
      const ref = parseImageReference(text);
      let client = clients.get(ref.registry);
      if (!client) {
        const creds = opts.pushRegistry?.toLowerCase() === ref.registry ? opts.registryAuth : undefined;
        client = new RegistryClient({
          registry: ref.registry,
          ...(creds && { credentials: creds }),
          ...(opts.insecureRegistries && { insecureRegistries: opts.insecureRegistries }),
          ...(opts.fetch && { fetch: opts.fetch }),
          logger: opts.logger,
          retry: { attempts: 2 },
        });
        clients.set(ref.registry, client);
      }
      const c = client;
      const top = await c.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
      const parsed = parseManifest(top.bytes, top.mediaType, formatReference(ref));
      const manifests: Manifest[] = [];
      if (parsed.kind === 'manifest') manifests.push(parsed.manifest);
      else {
        for (const d of parsed.index.manifests) {
          const m = parseManifest(
            (await c.getManifest(ref.repository, d.digest)).bytes,
            d.mediaType,
            d.digest,
          );
          if (m.kind === 'manifest') manifests.push(m.manifest);
        }
      }
      for (const m of manifests) {
        const config = JSON.parse((await c.readBlob(ref.repository, m.config.digest)).toString('utf8')) as {
          rootfs?: { diff_ids?: string[] };
        };
        const diffIds = config.rootfs?.diff_ids ?? [];
        m.layers.forEach((l, i) => {
          const diffId = diffIds[i];
          if (diffId && l.mediaType === opts.layerMediaType && !out.has(diffId)) {
            out.set(diffId, {
              digest: l.digest,
              size: l.size,
              mediaType: l.mediaType,
              diffId,
              client: c,
              repository: ref.repository,
            });
          }
        });
      }
      opts.logger.debug(`Layer reuse: ${text} offers ${out.size} layers`);
    } catch (e) {
      opts.logger.debug(`Layer reuse: ${text} not usable (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return out;
}
