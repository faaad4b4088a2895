/**
 * Deterministic, incompressible content: the AES-256-CTR keystream (over zeros) keyed
 * from a seed string. The same seed always yields the same bytes, on any machine, so
 * digests in tests are reproducible, and the bytes look random so nothing compresses.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const CHUNK_SIZE = 1 << 20;
const ZEROS = Buffer.alloc(CHUNK_SIZE);

/** The keystream generator for a seed (key and IV both derived from the seed). */
function keystream(seed: string): ReturnType<typeof createCipheriv> {
  const key = createHash('sha256').update(`harness-key:${seed}`).digest();
  const iv = createHash('sha256').update(`harness-iv:${seed}`).digest().subarray(0, 16);
  return createCipheriv('aes-256-ctr', key, iv);
}

/** `size` deterministic pseudo-random bytes, held in memory (for small blobs). */
export function seededBytes(seed: string, size: number): Buffer {
  const cipher = keystream(seed);
  const parts: Buffer[] = [];
  for (let left = size; left > 0; left -= CHUNK_SIZE) {
    parts.push(cipher.update(left >= CHUNK_SIZE ? ZEROS : ZEROS.subarray(0, left)));
  }
  return Buffer.concat(parts, size);
}

/** The same bytes as `seededBytes(seed, size)`, produced lazily in 1 MiB chunks (for large blobs). */
export function seededStream(seed: string, size: number): Readable {
  const cipher = keystream(seed);
  let left = size;
  return new Readable({
    highWaterMark: CHUNK_SIZE,
    read() {
      if (left === 0) {
        this.push(null);
        return;
      }
      const n = Math.min(CHUNK_SIZE, left);
      left -= n;
      this.push(cipher.update(n === CHUNK_SIZE ? ZEROS : ZEROS.subarray(0, n)));
    },
  });
}

/** `sha256:<hex>` of a buffer or string. */
export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Reads a stream to its end and returns its `sha256:<hex>` digest and byte count. */
export async function digestStream(stream: Readable): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}
