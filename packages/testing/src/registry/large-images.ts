/**
 * Large synthetic images for the benchmark: layers are never held in memory. Their content
 * is the seeded AES-CTR keystream, hashed once when built and regenerated on every push.
 */
import { digestStream, seededStream } from './deterministic';
import { imageConfig, imageManifest, indexManifest, MediaTypes, platformName, uniqueBlobs } from './images';
import type { Blob, ImageFormat, ManifestDoc, Platform, StreamedBlob, SyntheticImage } from './images';

const MiB = 1 << 20;

/** A streamed layer of `size` bytes; resolves once its digest is computed (one pass over the stream). */
export async function largeLayer(options: { size: number; seed: string; mediaType?: string }): Promise<StreamedBlob> {
  const { size, seed } = options;
  const { digest } = await digestStream(seededStream(seed, size));
  return {
    digest,
    size,
    mediaType: options.mediaType ?? MediaTypes.ociLayerGzip,
    stream: () => seededStream(seed, size),
  };
}

/** Options of `largeMultiPlatformIndex`. */
export interface LargeIndexOptions {
  /** Size of every layer, in MiB. */
  layerMiB: number;
  seed: string;
  format?: ImageFormat;
  /** Default linux/amd64 and linux/arm64. */
  platforms?: Platform[];
  /** Layers per platform, the first one shared by all platforms (default 4). */
  layersPerPlatform?: number;
}

/**
 * A multi-platform index (default 2 platforms × 4 layers of `layerMiB` MiB, the base layer
 * shared): `platforms × (layersPerPlatform − 1) + 1` distinct streamed layers.
 */
export async function largeMultiPlatformIndex(options: LargeIndexOptions): Promise<SyntheticImage<Blob>> {
  const format = options.format ?? 'oci';
  const layerType = format === 'oci' ? MediaTypes.ociLayerGzip : MediaTypes.dockerLayerGzip;
  const platforms = options.platforms ?? [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const perPlatform = options.layersPerPlatform ?? 4;
  const size = Math.round(options.layerMiB * MiB);
  const base = await largeLayer({ size, seed: `${options.seed}/base`, mediaType: layerType });
  const blobs: Blob[] = [base];
  const children: ManifestDoc[] = [];
  const entries: Array<{ manifest: ManifestDoc; platform: Platform }> = [];
  for (const platform of platforms) {
    const layers: Blob[] = [base];
    for (let i = 1; i < perPlatform; i++) {
      layers.push(
        await largeLayer({ size, seed: `${options.seed}/${platformName(platform)}/${i}`, mediaType: layerType }),
      );
    }
    const config = imageConfig(format, platform, layers, options.seed);
    const manifest = imageManifest(format, config, layers);
    blobs.push(...layers, config);
    children.push(manifest);
    entries.push({ manifest, platform });
  }
  const root = indexManifest(format, entries);
  return { root, manifests: [...children, root], blobs: uniqueBlobs(blobs) };
}

/** A single-platform image with one streamed layer (default 512 MiB, Docker media types). */
export async function largeSingleLayerImage(options: {
  seed: string;
  sizeMiB?: number;
  format?: ImageFormat;
  platform?: Platform;
}): Promise<SyntheticImage<Blob>> {
  const format = options.format ?? 'docker';
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layer = await largeLayer({
    size: Math.round((options.sizeMiB ?? 512) * MiB),
    seed: `${options.seed}/layer`,
    mediaType: format === 'oci' ? MediaTypes.ociLayerGzip : MediaTypes.dockerLayerGzip,
  });
  const config = imageConfig(format, platform, [layer], options.seed);
  const root = imageManifest(format, config, [layer]);
  return { root, manifests: [root], blobs: [layer, config] };
}
