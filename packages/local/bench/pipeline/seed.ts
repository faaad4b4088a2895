import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLimiter } from '@ecr-replicate/oci';
import type { LocalRegistry, SyntheticImage, BytesBlob } from '@ecr-replicate/testing';

/**
 * Seeds a local registry (distribution 2.8, filesystem storage) by writing its storage layout directly: thousands of
 * tags in seconds, where pushing them through the API would take minutes of the bench's two cores. The registry keeps
 * no cache (its config has none), so what is written is served at once. The layout (`docker/registry/v2` under the
 * storage root): blobs (manifests too) at `blobs/sha256/<2>/<hex>/data`; per repository, a link per layer
 * (`_layers/sha256/<hex>/link`), per manifest revision (`_manifests/revisions/sha256/<hex>/link`) and per tag
 * (`_manifests/tags/<tag>/current/link` and `.../index/sha256/<hex>/link`), each holding the digest.
 */
export async function seedRegistryStorage(
  registry: LocalRegistry,
  entries: Array<{ repository: string; tag: string; image: SyntheticImage<BytesBlob> }>,
): Promise<void> {
  const root = join(registry.rootDir, 'data', 'docker', 'registry', 'v2');
  const limit = createLimiter(32);
  const writtenBlobs = new Set<string>();
  const writtenLinks = new Set<string>();
  const hexOf = (digest: string): string => digest.slice('sha256:'.length);
  const put = (path: string, content: Buffer | string): Promise<void> =>
    limit(async () => {
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, content);
    });
  const blob = (digest: string, bytes: Buffer): Promise<void> | undefined => {
    if (writtenBlobs.has(digest)) return undefined;
    writtenBlobs.add(digest);
    const hex = hexOf(digest);
    return put(join(root, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data'), bytes);
  };
  const link = (path: string, digest: string): Promise<void> | undefined => {
    if (writtenLinks.has(path)) return undefined;
    writtenLinks.add(path);
    return put(path, digest);
  };
  const writes: Array<Promise<void> | undefined> = [];
  for (const { repository, tag, image } of entries) {
    const repo = join(root, 'repositories', ...repository.split('/'));
    for (const b of image.blobs) {
      writes.push(blob(b.digest, b.bytes));
      writes.push(link(join(repo, '_layers', 'sha256', hexOf(b.digest), 'link'), b.digest));
    }
    for (const m of image.manifests) {
      writes.push(blob(m.digest, m.bytes));
      writes.push(link(join(repo, '_manifests', 'revisions', 'sha256', hexOf(m.digest), 'link'), m.digest));
    }
    const tagDir = join(repo, '_manifests', 'tags', tag);
    writes.push(link(join(tagDir, 'current', 'link'), image.root.digest));
    writes.push(link(join(tagDir, 'index', 'sha256', hexOf(image.root.digest), 'link'), image.root.digest));
  }
  await Promise.all(writes);
}
