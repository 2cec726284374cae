/** Brings a blob of a built image onto local disk (base layers still in a registry are fetched, verified). */
import type { BlobRecord, BuiltImage } from './assemble.js';

export async function materializeBlob(img: BuiltImage, b: BlobRecord): Promise<string> {
  if (b.location.kind === 'file') return b.location.path;
  await b.location.client.fetchBlob(b.location.repository, b.digest, img.store);
  return img.store.path(b.digest);
}
