import { createLimiter, isForeignLayer, parseManifest, type RegistryClient } from '@ecr-replicate/oci';

/** Children of an index read at once while sizing it. */
const CHILD_READS = 4;

/**
 * The bytes of the blobs an image references (each distinct blob once, foreign layers left out, as the copy does),
 * read from its manifests at the source: the root and, for an index, every child. Undefined when the source no longer
 * has it (the reconciliation decides what that means). An upper bound of what a copy sends: the destination may hold
 * some of the blobs already.
 */
export async function imageBytes(
  source: RegistryClient,
  repository: string,
  reference: string,
): Promise<number | undefined> {
  const root = await source.findManifest(repository, reference);
  if (root === undefined) return undefined;
  const parsed = parseManifest(root.bytes, root.mediaType);
  const sizes = new Map<string, number>();
  const addBlobs = (blobs: Array<{ digest: string; size: number; mediaType: string }>): void => {
    for (const blob of blobs) if (!isForeignLayer(blob)) sizes.set(blob.digest, blob.size);
  };
  if (parsed.kind === 'image') {
    addBlobs(parsed.blobs);
  } else {
    const limit = createLimiter(CHILD_READS);
    await Promise.all(
      parsed.children.map((child) =>
        limit(async () => {
          const data = await source.getManifest(repository, child.digest);
          const read = parseManifest(data.bytes, data.mediaType);
          // A nested index is rare; its own children are not followed (the per-blob budget still applies).
          if (read.kind === 'image') addBlobs(read.blobs);
        }),
      ),
    );
  }
  let total = 0;
  for (const size of sizes.values()) total += size;
  return total;
}
