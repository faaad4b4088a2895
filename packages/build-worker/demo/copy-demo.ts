/**
 * The local demo: replication between two local registries, no AWS account
 * needed. Starts a source registry and a destination behind Basic auth (as
 * ECR is), publishes a three-platform image with a cosign signature and an
 * SBOM to the source, replicates it with `ecr-replicate copy`, and prints
 * the digests on both sides. Exits 0 only when every one is equal.
 */
import { PassThrough } from 'node:stream';
import { referrersTagOf } from '@ecr-replicate/common';
import { main } from '../src/cli/main';
import { artifactWithSubject, cosignSignature, manifestDigestOf, ociIndex, pushImage, pushReferrer, startRegistry, type LocalRegistry } from '@ecr-replicate/testing';

const USER = 'demo';
const PASSWORD = `demo-${Math.random().toString(36).slice(2)}`;

function log(text: string): void {
  process.stdout.write(`${text}\n`);
}

async function replicate(source: LocalRegistry, destination: LocalRegistry, image: string): Promise<number> {
  const terminal = process.stdout.isTTY === true && process.stderr.isTTY === true;
  const sink = new PassThrough();
  let json = '';
  sink.on('data', (chunk: Buffer) => (json += chunk.toString()));
  const code = await main(['copy', `${source.host}/${image}`, `${destination.host}/${image}`, ...(terminal ? [] : ['--json'])], {
    stdout: terminal ? process.stdout : sink,
    stderr: process.stderr,
    env: { ...process.env, ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}` },
  });
  if (!terminal) {
    const result = json.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).at(-1);
    log(`  ${JSON.stringify(result)}`);
  }
  return code;
}

async function run(): Promise<number> {
  const started = Date.now();
  log('Starting two local registries (the destination behind Basic auth)...');
  const [source, destination] = await Promise.all([startRegistry(), startRegistry({ htpasswd: { username: USER, password: PASSWORD } })]);
  try {
    log(`  source      http://${source.host}\n  destination http://${destination.host}`);
    log('Publishing demo/app:v1 to the source: 3 platforms, a cosign signature and an SBOM...');
    const image = ociIndex({
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 's390x' },
      ],
      sharedBaseSize: 8 * 1024 * 1024,
      layerSize: 2 * 1024 * 1024,
      seed: 'demo',
    });
    await pushImage(source, 'demo/app', image, 'v1');
    const signature = cosignSignature(image.root, 'demo-signature');
    await pushImage(source, 'demo/app', signature, signature.tag);
    await pushReferrer(source, 'demo/app', image.root, artifactWithSubject(image.root, { artifactType: 'application/spdx+json', seed: 'demo-sbom' }));

    log(`\n$ ecr-replicate copy ${source.host}/demo/app:v1 ${destination.host}/demo/app:v1`);
    if ((await replicate(source, destination, 'demo/app:v1')) !== 0) return 1;
    log('\nAgain: the destination is up to date, nothing is transferred.');
    if ((await replicate(source, destination, 'demo/app:v1')) !== 0) return 1;

    const references = ['v1', ...image.manifests.slice(0, -1).map((m) => m.digest), signature.tag, referrersTagOf(image.root.digest)];
    log('\nreference                                                          source digest            destination digest       equal');
    let equal = true;
    for (const reference of references) {
      const [a, b] = await Promise.all([manifestDigestOf(source, 'demo/app', reference), manifestDigestOf(destination, 'demo/app', reference).catch(() => 'missing')]);
      equal &&= a === b;
      const name = reference.length > 64 ? `${reference.slice(0, 61)}...` : reference;
      log(`${name.padEnd(66)} ${a.slice(0, 23).padEnd(24)} ${b.slice(0, 23).padEnd(24)} ${a === b ? 'yes' : 'NO'}`);
    }
    log(`\n${equal ? 'Every manifest at the destination equals the source.' : 'The destination differs from the source.'} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return equal ? 0 : 1;
  } finally {
    await Promise.all([source.stop(), destination.stop()]);
  }
}

run().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
