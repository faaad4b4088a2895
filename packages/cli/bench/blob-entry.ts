/**
 * The blob case's child process (bench/blob.ts): streams one blob from the source to the destination with the
 * registry client, the way the copy engine's `streamBlob` does (GET body → DigestVerifier → one streamed PATCH →
 * commit), or without the verifier (`unverified`) to show what the hash costs on the same path.
 *
 *   node blob-entry.cjs verified|unverified SOURCE_HOST SOURCE_REPO DESTINATION_HOST DESTINATION_REPO DIGEST SIZE
 *
 * Writes `{"seconds":S,"cpuSeconds":C}` to fd 3: the transfer's wall time and this process's CPU over it, from the
 * first request to the commit's answer (start-up excluded: the copy cases measure it).
 */
import { writeSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { DigestVerifier, RegistryClient } from '@ecr-replicate/oci';

async function transfer(argv: string[]): Promise<void> {
  const [mode, sourceHost, sourceRepository, destinationHost, destinationRepository, digest, sizeText] = argv;
  if (mode !== 'verified' && mode !== 'unverified') throw new Error(`unknown mode "${String(mode)}"`);
  const size = Number(sizeText);
  const source = new RegistryClient({ host: sourceHost as string, plainHttp: true });
  const destination = new RegistryClient({ host: destinationHost as string, plainHttp: true });
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  try {
    const [body, upload] = await Promise.all([
      source.openBlob(sourceRepository as string, digest as string, size),
      destination.startUpload(destinationRepository as string, digest as string),
    ]);
    if (upload.mounted) throw new Error('the destination mounted the blob: nothing was transferred');
    let next: string;
    if (mode === 'unverified') {
      next = await destination.patchUpload(destinationRepository as string, upload.location, body, size);
    } else {
      const verifier = new DigestVerifier(digest as string, size);
      [next] = await Promise.all([
        destination.patchUpload(destinationRepository as string, upload.location, verifier, size),
        pipeline(body, verifier),
      ]);
    }
    await destination.finishUpload(destinationRepository as string, next, digest as string);
  } finally {
    await Promise.all([source.close(), destination.close()]);
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  writeSync(3, `${JSON.stringify({ seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
}

transfer(process.argv.slice(2)).then(
  () => undefined,
  (error: unknown) => {
    process.stderr.write(`blob-entry: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  },
);
