/**
 * File outputs of a built image:
 * - an OCI image layout archive (tar), which skopeo (`oci-archive:`) and podman load, with a
 *   `manifest.json` for one platform beside index.json (as `docker save` writes since Docker 25), through
 *   which every Docker engine's `docker load` reads it, whatever its image store;
 * - a docker-archive (`docker save` format: manifest.json + config + layer tars) of one platform, which
 *   every Docker engine loads (20.10 cannot load OCI archives). Layers stay gzip-compressed: `docker load`
 *   decompresses them.
 * Both are deterministic tars (sorted, fixed mtime), streamed; blobs are never held in memory.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { UserError } from '../errors.js';
import type { BuiltImage } from './assemble.js';
import { digestHex, sha256 } from './blobs.js';
import { materializeBlob } from './materialize.js';
import { platformKey } from './oci.js';
import { parseImageReference } from './reference.js';
import type { ReferrerArtifact } from './referrers.js';

type TarItem = { name: string; data: Buffer } | { name: string; file: string; size: number };

const MTIME = new Date(0);

async function writeTar(path: string, items: TarItem[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const pack = tar.pack();
  const produce = (async () => {
    const dirs = new Set<string>();
    for (const item of items) {
      const parts = item.name.split('/');
      for (let i = 1; i < parts.length; i++) {
        const d = `${parts.slice(0, i).join('/')}/`;
        if (dirs.has(d)) continue;
        dirs.add(d);
        await new Promise<void>((res, rej) =>
          pack.entry(
            { name: d, type: 'directory', mode: 0o755, mtime: MTIME, uid: 0, gid: 0, uname: '', gname: '' },
            (e) => (e ? rej(e) : res()),
          ),
        );
      }
      const header = {
        name: item.name,
        type: 'file' as const,
        mode: 0o644,
        mtime: MTIME,
        uid: 0,
        gid: 0,
        uname: '',
        gname: '',
      };
      if ('data' in item) {
        await new Promise<void>((res, rej) =>
          pack.entry({ ...header, size: item.data.length }, item.data, (e) => (e ? rej(e) : res())),
        );
      } else {
        let done!: Promise<void>;
        const sink = await new Promise<Writable>((res) => {
          done = new Promise<void>((ok, fail) => {
            res(
              pack.entry({ ...header, size: item.size }, (e) => (e ? fail(e) : ok())) as unknown as Writable,
            );
          });
        });
        for await (const chunk of createReadStream(item.file, { highWaterMark: 1 << 20 })) {
          if (!sink.write(chunk)) await once(sink, 'drain');
        }
        sink.end();
        await done;
      }
    }
    pack.finalize();
  })();
  produce.catch((e: Error) => pack.destroy(e));
  try {
    await Promise.all([produce, pipeline(pack, createWriteStream(tmp))]);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Splits `name:tag` / `tag` into the full name (when given) and the tag. */
function tagParts(t: string): { full?: string; tag: string } {
  if (!t.includes('/') && !t.includes(':')) return { tag: t };
  const ref = parseImageReference(t);
  const tag = ref.tag ?? 'latest';
  return { full: `${ref.registry}/${ref.repository}:${tag}`, tag };
}

/**
 * Writes an OCI image layout archive. `tags` (plain tags or full `name:tag` references) become
 * `org.opencontainers.image.ref.name` (skopeo `oci-archive:PATH:TAG`) and `io.containerd.image.name`
 * (the name Docker 25+ gives the loaded image). `referrers` (artifacts whose subject is the image, e.g.
 * its SBOM) are listed in index.json untagged, as `oras attach --oci-layout` does.
 */
export async function writeOciArchive(
  img: BuiltImage,
  path: string,
  tags: string[] = [],
  /**
   * Also write a `manifest.json` for this platform, as `docker save` on Docker 25+ does: Docker
   * engines with the classic image store (every engine before 25, and later ones without the
   * containerd store) load an archive through it alone, and ignore index.json.
   */
  dockerPlatform?: string,
  referrers: ReferrerArtifact[] = [],
): Promise<void> {
  const top = { mediaType: img.mediaType, digest: img.digest, size: img.bytes.length };
  const manifests =
    tags.length === 0
      ? [top]
      : tags.map((t) => {
          const { full, tag } = tagParts(t);
          return {
            ...top,
            annotations: {
              ...(full && { 'io.containerd.image.name': full }),
              'org.opencontainers.image.ref.name': tag,
            },
          };
        });
  const items: TarItem[] = [
    { name: 'oci-layout', data: json({ imageLayoutVersion: '1.0.0' }) },
    {
      name: 'index.json',
      data: json({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [...manifests, ...referrers.map((r) => r.descriptor)],
      }),
    },
  ];
  const blobs: TarItem[] = [];
  const add = (digest: string, data: Buffer): void => {
    blobs.push({ name: `blobs/sha256/${digestHex(digest)}`, data });
  };
  add(img.digest, img.bytes);
  for (const p of img.platforms) {
    if (p.digest !== img.digest) add(p.digest, p.manifest);
    add(p.configDigest, p.config);
  }
  for (const r of referrers) {
    add(r.digest, r.manifest);
    for (const blob of r.blobs) add(sha256(blob), blob);
  }
  const configs = new Set(img.platforms.map((p) => p.configDigest));
  for (const b of img.blobs.values()) {
    if (configs.has(b.digest)) continue;
    blobs.push({
      name: `blobs/sha256/${digestHex(b.digest)}`,
      file: await materializeBlob(img, b),
      size: b.size,
    });
  }
  if (dockerPlatform) {
    const full = tags.map((t) => tagParts(t).full).filter((t): t is string => t !== undefined);
    items.push({
      name: 'manifest.json',
      data: json((await dockerEntry(img, dockerPlatform, full)).manifest),
    });
  }
  const seen = new Set<string>();
  const unique = blobs.filter((b) => (seen.has(b.name) ? false : (seen.add(b.name), true)));
  unique.sort((a, b) => (a.name < b.name ? -1 : 1));
  await writeTar(path, [...items, ...unique]);
}

/** The docker-archive `manifest.json` of `platform`'s image and the blobs it names. */
async function dockerEntry(
  img: BuiltImage,
  platform: string,
  repoTags: string[],
): Promise<{ manifest: unknown; blobs: TarItem[] }> {
  const key = platformKey(platform);
  const p = img.platforms.find((x) => x.platform === key);
  if (!p) {
    throw new UserError(
      `The built image has no ${key} variant (it has ${img.platforms.map((x) => x.platform).join(', ')}).`,
      `Include ${key} in platforms to load the image into this machine's Docker engine.`,
    );
  }
  const tags = repoTags.map((t) => {
    const ref = parseImageReference(t);
    const name =
      ref.registry === 'docker.io'
        ? ref.repository.replace(/^library\//, '')
        : `${ref.registry}/${ref.repository}`;
    return `${name}:${ref.tag ?? 'latest'}`;
  });
  const cfgName = `blobs/sha256/${digestHex(p.configDigest)}`;
  const layerItems: TarItem[] = [];
  for (const l of p.layers) {
    const b = img.blobs.get(l.digest);
    if (!b) throw new Error(`blob ${l.digest} missing from the built image`);
    layerItems.push({
      name: `blobs/sha256/${digestHex(l.digest)}`,
      file: await materializeBlob(img, b),
      size: l.size,
    });
  }
  const manifest = [{ Config: cfgName, RepoTags: tags, Layers: layerItems.map((l) => l.name) }];
  return { manifest, blobs: [{ name: cfgName, data: p.config }, ...layerItems] };
}

/**
 * Writes a docker-archive (`docker load` input) of `platform`'s image, tagged `repoTags` (full
 * `name:tag` references).
 */
export async function writeDockerArchive(
  img: BuiltImage,
  path: string,
  platform: string,
  repoTags: string[],
): Promise<void> {
  const { manifest, blobs } = await dockerEntry(img, platform, repoTags);
  const seen = new Set<string>();
  const blobItems = blobs
    .filter((b) => (seen.has(b.name) ? false : (seen.add(b.name), true)))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  await writeTar(path, [...blobItems, { name: 'manifest.json', data: json(manifest) }]);
}
