import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ErrorCode, parseDigest } from '@ecr-replicate/common/core';
import { TransientError } from '../transport/request-retry';

/**
 * A pass-through stream that hashes and counts what flows through it and
 * fails the stream, before its end, when the content is longer than announced
 * or does not hash to the announced digest. Placed between a blob download and
 * its upload, it keeps a corrupt or truncated blob from ever being committed.
 */
export class DigestVerifier extends Transform {
  private readonly hash: Hash;
  private readonly algorithm: 'sha256' | 'sha512';
  private bytes = 0;

  constructor(
    private readonly digest: string,
    private readonly size: number,
    private readonly onBytes?: (count: number) => void,
  ) {
    super();
    this.algorithm = parseDigest(digest).algorithm;
    this.hash = createHash(this.algorithm);
  }

  get bytesSeen(): number {
    return this.bytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.size) {
      callback(this.mismatch(`is longer than its announced ${this.size} bytes`));
      return;
    }
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.bytes !== this.size) {
      callback(this.mismatch(`ended after ${this.bytes} of ${this.size} bytes`));
      return;
    }
    const actual = `${this.algorithm}:${this.hash.digest('hex')}`;
    if (actual !== this.digest) {
      callback(this.mismatch(`hashes to ${actual}`));
      return;
    }
    callback();
  }

  private mismatch(what: string): TransientError {
    return new TransientError(ErrorCode.DigestMismatch, `blob ${this.digest} ${what}; the upload was abandoned`, {
      details: { digest: this.digest, size: this.size, received: this.bytes },
    });
  }
}
