/**
 * `ecr-replicate sync` against two real registries (the source open, the
 * destination behind Basic auth): the plan, the direct run, deletes,
 * filters and mapping, referrers, the enqueue mode (SQS from
 * aws-sdk-client-mock) and bad usage.
 * Each test works in repositories of its own prefix, selected with --config.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient } from '@aws-sdk/client-ecr';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { ErrorCode, parseScanUnitJson, type ReplicationConfigInput } from '@ecr-replicate/common';
import { jsonLinesOf, runCli, type CliRun } from '../support/cli';
import {
  cosignSignature,
  dockerImage,
  listTags,
  manifestDigestOf,
  ociIndex,
  pushImage,
  pushReferrer,
  artifactWithSubject,
  startFaultProxy,
  startRegistry,
  type LocalRegistry,
} from '@ecr-replicate/testing';

const USER = 'AWS';
const PASSWORD = 'sync-test-password';
const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ecr-replicate-requests.fifo';
const SCAN_QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/ecr-replicate-scan';

const sqs = mockClient(SQSClient);
const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

let source: LocalRegistry;
let destination: LocalRegistry;
let dir: string;

const cli = (args: string[], options: { env?: NodeJS.ProcessEnv; tty?: boolean } = {}): Promise<CliRun> =>
  runCli(args, { ...options, env: { ECR_REPLICATE_DEST_CREDS: `${USER}:${PASSWORD}`, ...options.env } });
const records = jsonLinesOf;

/** The plan lines of a JSON run as `action repository:tag`, sorted. */
function planOf(run: CliRun): string[] {
  return records(run)
    .filter((r) => r.event === 'plan')
    .map((r) => `${String(r.action)} ${String(r.destinationRepository)}:${String(r.tag)}`)
    .sort();
}

function summaryOf(run: CliRun): Record<string, unknown> {
  const last = records(run).at(-1);
  expect(last?.event).toBe('summary');
  return last as Record<string, unknown>;
}

let configs = 0;
async function configFile(config: ReplicationConfigInput): Promise<string> {
  configs += 1;
  const path = join(dir, `config-${configs}.json`);
  await writeFile(path, JSON.stringify(config));
  return path;
}

async function sync(config: ReplicationConfigInput, ...extra: string[]): Promise<CliRun> {
  return cli(['sync', source.host, destination.host, '--config', await configFile(config), ...extra]);
}

async function digestOrAbsent(registry: LocalRegistry, repository: string, tag: string): Promise<string | undefined> {
  return manifestDigestOf(registry, repository, tag).catch(() => undefined);
}

beforeAll(async () => {
  [source, destination, dir] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
    mkdtemp(join(tmpdir(), 'sync-test-')),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop(), dir ? rm(dir, { recursive: true, force: true }) : undefined]);
});

beforeEach(() => {
  sqs.reset();
  ecr.reset();
  secrets.reset();
});

describe('ecr-replicate sync', () => {
  const a = dockerImage({ seed: 'sync-a' });
  const b = ociIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
    seed: 'sync-b',
    sharedBaseSize: 32 * 1024,
    layerSize: 8 * 1024,
  });
  const stale = dockerImage({ seed: 'sync-stale' });
  const c = dockerImage({ seed: 'sync-c' });
  const only = { repositories: { include: ['prefix:s1/'] } };

  beforeAll(async () => {
    await pushImage(source, 's1/app', a, 'v1');
    await pushImage(source, 's1/app', b, 'v2');
    await pushImage(source, 's1/app', b, 'latest');
    await pushImage(source, 's1/tool', c, '1.0');
    // The destination has v1 right, v2 at a stale digest, and neither latest nor the tool.
    await pushImage(destination, 's1/app', a, 'v1');
    await pushImage(destination, 's1/app', stale, 'v2');
  });

  it('--dry-run lists exactly the missing and stale tags and changes nothing', async () => {
    const run = await sync(only, '--dry-run');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(planOf(run)).toEqual(['copy s1/app:latest', 'copy s1/tool:1.0', 'ok s1/app:v1', 'update s1/app:v2']);
    const update = records(run).find((r) => r.action === 'update');
    expect(update).toMatchObject({
      sourceRepository: 's1/app',
      sourceDigest: b.root.digest,
      destinationDigest: stale.root.digest,
    });
    expect(summaryOf(run)).toMatchObject({
      mode: 'dry-run',
      repositories: 2,
      tags: 4,
      ok: 1,
      copy: 2,
      update: 1,
      delete: 0,
      failed: 0,
      equal: false,
    });
    expect(await manifestDigestOf(destination, 's1/app', 'v2')).toBe(stale.root.digest);
    expect(await digestOrAbsent(destination, 's1/app', 'latest')).toBeUndefined();
  });

  it('--dry-run prints a table on a terminal', async () => {
    const run = await cli(['sync', source.host, destination.host, '--config', await configFile(only), '--dry-run'], {
      tty: true,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^ACTION\s+REPOSITORY\s+TAG\s+SOURCE\s+DESTINATION\s+REASON$/m);
    expect(run.stdout).toMatch(
      new RegExp(
        `^update\\s+s1/app\\s+v2\\s+${b.root.digest.slice(0, 19)}\\s+${stale.root.digest.slice(0, 19)}\\s+another digest at the destination$`,
        'm',
      ),
    );
    expect(run.stdout).toMatch(/^copy\s+s1\/tool\s+1\.0\s+sha256:[0-9a-f]{12}\s+-\s+missing at the destination$/m);
    expect(run.stdout).toMatch(
      /^dry run, nothing changed: 3 to change \(2 copy, 1 update, 0 delete\), 1 tag equal; 2 repositories, 4 tags compared in \d+\.\d s$/m,
    );
  });

  it('makes the destination equal, then a second sync plans nothing', async () => {
    const run = await sync(only);
    expect(run.code).toBe(0);
    expect(
      records(run)
        .filter((r) => r.event === 'done')
        .map((r) => `${String(r.destinationRepository)}:${String(r.tag)}`)
        .sort(),
    ).toEqual(['s1/app:latest', 's1/app:v2', 's1/tool:1.0']);
    expect(summaryOf(run)).toMatchObject({ mode: 'direct', done: 3, failed: 0, equal: true });
    expect(await manifestDigestOf(destination, 's1/app', 'v1')).toBe(a.root.digest);
    expect(await manifestDigestOf(destination, 's1/app', 'v2')).toBe(b.root.digest);
    expect(await manifestDigestOf(destination, 's1/app', 'latest')).toBe(b.root.digest);
    expect(await manifestDigestOf(destination, 's1/tool', '1.0')).toBe(c.root.digest);
    for (const child of b.manifests)
      expect(await manifestDigestOf(destination, 's1/app', child.digest)).toBe(child.digest);

    const again = await sync(only);
    expect(again.code).toBe(0);
    expect(planOf(again)).toEqual(['ok s1/app:latest', 'ok s1/app:v1', 'ok s1/app:v2', 'ok s1/tool:1.0']);
    expect(summaryOf(again)).toMatchObject({ copy: 0, update: 0, delete: 0, done: 0, bytesCopied: 0, equal: true });
  });

  it('shows progress on a terminal and a summary line', async () => {
    const image = dockerImage({ seed: 'sync-tty' });
    await pushImage(source, 's1tty/app', image, 'v1');
    const run = await cli(
      ['sync', source.host, destination.host, '--config', await configFile({ repositories: { include: ['s1tty/*'] } })],
      { tty: true },
    );
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/comparing: repositories \d+\/1 {2}tags \d+/);
    // Images and bytes, the rate (and, once a second has passed with images left, the time left).
    expect(run.stderr).toMatch(/images \d\/1 {2}[\d.]+ (B|KiB) of [\d.]+ (B|KiB) started {2}[\d.]+ (B|KiB|MiB)\/s/);
    expect(run.stdout).toMatch(/^copy\s+s1tty\/app\s+v1\s/m);
    expect(run.stdout).toMatch(
      /^synced 1 of 1 \(1 copy, 0 update, 0 delete\), 0 tags equal; 1 repository, 1 tag compared, [\d.]+ KiB copied in \d+\.\d s$/m,
    );
    const again = await cli(
      ['sync', source.host, destination.host, '--config', await configFile({ repositories: { include: ['s1tty/*'] } })],
      { tty: true },
    );
    expect(again.stdout).toMatch(/^already equal: 1 tag equal; 1 repository, 1 tag compared in \d+\.\d s\n$/);
  });

  it('deletes destination tags gone from the source only when deletes are on', async () => {
    const keep = dockerImage({ seed: 'sync-keep' });
    const gone = dockerImage({ seed: 'sync-gone' });
    const filtered = dockerImage({ seed: 'sync-filtered' });
    await pushImage(source, 's2/app', keep, 'v1');
    // At the destination: a tag the source never had, a second tag of the kept image
    // (distribution deletes by digest, which takes the other tags of the image along),
    // and a tag the tag filters exclude.
    await pushImage(destination, 's2/app', gone, 'old');
    await pushImage(destination, 's2/app', keep, 'alias');
    await pushImage(destination, 's2/app', filtered, 'scratch-1');
    const config = { repositories: { include: ['s2/app'] }, tags: { exclude: ['scratch-*'] } };

    const off = await sync({ ...config, deletes: false });
    expect(off.code).toBe(0);
    expect(planOf(off)).toEqual(['copy s2/app:v1']);
    expect(await manifestDigestOf(destination, 's2/app', 'old')).toBe(gone.root.digest);

    const dry = await sync({ ...config, deletes: true }, '--dry-run');
    expect(planOf(dry)).toEqual(['delete s2/app:alias', 'delete s2/app:old', 'ok s2/app:v1']);
    expect(records(dry).find((r) => r.tag === 'old')).toMatchObject({
      destinationDigest: gone.root.digest,
      reason: 'gone from the source',
    });

    const on = await sync({ ...config, deletes: true });
    expect(on.code).toBe(0);
    expect(summaryOf(on)).toMatchObject({ delete: 2, done: 2, failed: 0 });
    expect(await digestOrAbsent(destination, 's2/app', 'old')).toBeUndefined();
    expect(await digestOrAbsent(destination, 's2/app', 'alias')).toBeUndefined();
    // v1 shared its digest with the removed alias: it went along and was copied back.
    expect(await manifestDigestOf(destination, 's2/app', 'v1')).toBe(keep.root.digest);
    expect(records(on)).toContainEqual(expect.objectContaining({ event: 'done', tag: 'v1', restored: true }));
    expect(await manifestDigestOf(destination, 's2/app', 'scratch-1')).toBe(filtered.root.digest);

    const again = await sync({ ...config, deletes: true }, '--dry-run');
    expect(planOf(again)).toEqual(['ok s2/app:v1']);
  });

  it('applies repository and tag filters and the name mapping', async () => {
    const image = dockerImage({ seed: 'sync-filters' });
    const legacy = dockerImage({ seed: 'sync-legacy' });
    await pushImage(source, 's3/app', image, 'v1');
    await pushImage(source, 's3/app', image, 'v1-dev');
    await pushImage(source, 's3/app', image, 'latest');
    await pushImage(source, 's3/skip', image, 'v1');
    await pushImage(source, 's3/legacy', legacy, 'v2');
    const config: ReplicationConfigInput = {
      repositories: { include: ['prefix:s3/'], exclude: ['s3/skip'] },
      tags: { include: ['v*'], exclude: ['*-dev'] },
      mapping: { repositories: { 's3/legacy': 'apps/legacy' }, prefixes: [{ from: 's3/', to: 'mirror/s3/' }] },
    };
    const run = await sync(config);
    expect(run.code).toBe(0);
    expect(planOf(run)).toEqual(['copy apps/legacy:v2', 'copy mirror/s3/app:v1']);
    expect(records(run).find((r) => r.tag === 'v2')).toMatchObject({
      sourceRepository: 's3/legacy',
      destinationRepository: 'apps/legacy',
    });
    expect(await manifestDigestOf(destination, 'mirror/s3/app', 'v1')).toBe(image.root.digest);
    expect(await manifestDigestOf(destination, 'apps/legacy', 'v2')).toBe(legacy.root.digest);
    expect(await listTags(destination, 'mirror/s3/app')).toEqual(['v1']);
    expect(await listTags(destination, 'mirror/s3/skip')).toEqual([]);
  });

  it('takes the configuration from REPLICATION_CONFIG and reports a mapping conflict by name', async () => {
    const image = dockerImage({ seed: 'sync-conflict' });
    await pushImage(source, 's4/one', image, 'v1');
    await pushImage(source, 's4/two', image, 'v1');
    await pushImage(source, 's4/fine', image, 'v1');
    const config = {
      repositories: { include: ['prefix:s4/'] },
      mapping: { repositories: { 's4/one': 'same/name', 's4/two': 'same/name' } },
    };
    const run = await cli(['sync', source.host, destination.host], {
      env: { REPLICATION_CONFIG: JSON.stringify(config) },
    });
    expect(run.code).toBe(1);
    const failures = records(run).filter((r) => r.event === 'failure');
    expect(failures.map((f) => f.sourceRepository)).toEqual(['s4/one', 's4/two']);
    expect(failures[0]?.message).toMatch(/"s4\/one", "s4\/two" all map to "same\/name"/);
    expect(await manifestDigestOf(destination, 's4/fine', 'v1')).toBe(image.root.digest);
    expect(summaryOf(run)).toMatchObject({ failed: 2, done: 1, equal: false });
  });

  it('plans an otherwise equal tag as an update when referrers are missing, and copies them', async () => {
    const image = ociIndex({ platforms: [{ os: 'linux', architecture: 'amd64' }], seed: 'sync-signed' });
    const signature = cosignSignature(image.root, 'sync-signed');
    await pushImage(source, 's5/signed', image, 'v1');
    await pushImage(source, 's5/signed', signature, signature.tag);
    const config = { repositories: { include: ['s5/signed'] } };

    const first = await sync(config);
    expect(first.code).toBe(0);
    // The signature tag is not an entry of its own: it came with its subject.
    expect(planOf(first)).toEqual(['copy s5/signed:v1']);
    expect(await manifestDigestOf(destination, 's5/signed', signature.tag)).toBe(signature.root.digest);

    // A new attestation at the source (the referrers tag scheme): v1 is equal, its referrers are not.
    const sbom = artifactWithSubject(image.root, { artifactType: 'application/spdx+json', seed: 'sync-sbom' });
    const { tag: indexTag, index } = await pushReferrer(source, 's5/signed', image.root, sbom);
    const dry = await sync(config, '--dry-run');
    expect(planOf(dry)).toEqual(['update s5/signed:v1']);
    expect(records(dry).find((r) => r.event === 'plan')).toMatchObject({
      reason: `referrer tag ${indexTag} is missing at the destination`,
    });

    // A tag of the scheme the copy engine does not carry with its subject is compared like any tag.
    const other = artifactWithSubject(image.root, { artifactType: 'application/vnd.example+json', seed: 'sync-other' });
    const otherTag = `${indexTag}.intoto`;
    await pushImage(source, 's5/signed', other, otherTag);

    const second = await sync(config);
    expect(second.code).toBe(0);
    expect(planOf(second)).toEqual([`copy s5/signed:${otherTag}`, 'update s5/signed:v1']);
    expect(await manifestDigestOf(destination, 's5/signed', indexTag)).toBe(index.digest);
    expect(await manifestDigestOf(destination, 's5/signed', sbom.root.digest)).toBe(sbom.root.digest);
    expect(await manifestDigestOf(destination, 's5/signed', otherTag)).toBe(other.root.digest);
    expect(planOf(await sync(config, '--dry-run'))).toEqual([`ok s5/signed:${otherTag}`, 'ok s5/signed:v1']);
  });

  it('names each failure, does the rest, and exits 1', async () => {
    const image = dockerImage({ seed: 'sync-partial' });
    await pushImage(source, 's6/fine', image, 'v1');
    await pushImage(source, 's6/broken', image, 'v1');
    const proxy = await startFaultProxy(source);
    proxy.addFault({ match: { path: /^\/v2\/s6\/broken\/tags\/list/ }, action: { status: 403 } });
    try {
      const run = await cli([
        'sync',
        proxy.host,
        destination.host,
        '--config',
        await configFile({ repositories: { include: ['prefix:s6/'] } }),
      ]);
      expect(run.code).toBe(1);
      expect(records(run)).toContainEqual(
        expect.objectContaining({
          event: 'failure',
          stage: 'list',
          sourceRepository: 's6/broken',
          code: ErrorCode.AccessDenied,
        }),
      );
      expect(await manifestDigestOf(destination, 's6/fine', 'v1')).toBe(image.root.digest);
      expect(summaryOf(run)).toMatchObject({ done: 1, failed: 1, equal: false });
    } finally {
      await proxy.stop();
    }
  });

  it('exits 1 with a clear error when the source cannot be listed', async () => {
    const run = await cli(['sync', '127.0.0.1:9', destination.host, '--retries', '1']);
    expect(run.code).toBe(1);
    expect(records(run).at(-1)).toMatchObject({
      event: 'error',
      code: 'NETWORK',
      message: expect.stringContaining('repository catalog of 127.0.0.1:9'),
    });
  });

  describe('--enqueue', () => {
    it('sends one scan unit per selected repository to the scan queue and compares nothing here', async () => {
      const image = dockerImage({ seed: 'sync-enqueue' });
      await pushImage(source, 's7/app', image, 'v1');
      await pushImage(source, 's7/web', image, 'v1');
      await pushImage(source, 's7x/other', image, 'v1');
      sqs.on(SendMessageCommand).callsFake((input: { MessageBody: string }) => ({
        MessageId: `m-${(JSON.parse(input.MessageBody) as { sourceRepository: string }).sourceRepository}`,
      }));
      const before = Date.now();
      const run = await sync(
        { repositories: { include: ['prefix:s7/'] }, mapping: { prefixes: [{ from: 's7/', to: 'mirror/s7/' }] } },
        '--enqueue',
        SCAN_QUEUE_URL,
      );
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      const summary = summaryOf(run);
      expect(summary).toMatchObject({
        mode: 'enqueue',
        queue: SCAN_QUEUE_URL,
        repositories: 2,
        queued: 2,
        failed: 0,
        scanId: expect.stringMatching(/^sync-/),
      });
      const units = sqs.commandCalls(SendMessageCommand).map((c) => {
        expect(c.args[0].input.QueueUrl).toBe(SCAN_QUEUE_URL);
        return parseScanUnitJson(c.args[0].input.MessageBody as string);
      });
      expect(units.map((u) => u.sourceRepository).sort()).toEqual(['s7/app', 's7/web']);
      for (const unit of units) {
        expect(unit).toMatchObject({ version: 1, origin: 'sync', part: 0, scanId: summary.scanId });
        expect(Date.parse(unit.plannedAt)).toBeGreaterThanOrEqual(before - 1000);
      }
      expect(
        records(run)
          .filter((r) => r.event === 'queued')
          .map((r) => r.messageId)
          .sort(),
      ).toEqual(['m-s7/app', 'm-s7/web']);
      // Nothing was compared or copied here: the scan Lambdas and the workers do it.
      expect(records(run).filter((r) => r.event === 'plan')).toEqual([]);
      expect(await digestOrAbsent(destination, 'mirror/s7/app', 'v1')).toBeUndefined();
    });

    it('names a unit SQS refused, sends the others and exits 1', async () => {
      const image = dockerImage({ seed: 'sync-enqueue-fail' });
      await pushImage(source, 's8/app', image, 'v1');
      await pushImage(source, 's8/web', image, 'v1');
      sqs.on(SendMessageCommand).callsFake((input: { MessageBody: string }) => {
        if (input.MessageBody.includes('"s8/web"'))
          throw Object.assign(new Error('throttled'), { name: 'RequestThrottled' });
        return { MessageId: 'm-1' };
      });
      const run = await sync({ repositories: { include: ['prefix:s8/'] } }, '--enqueue', SCAN_QUEUE_URL);
      expect(run.code).toBe(1);
      expect(records(run)).toContainEqual(
        expect.objectContaining({
          event: 'failed',
          sourceRepository: 's8/web',
          code: 'AWS_SERVICE',
          message: expect.stringContaining('RequestThrottled'),
        }),
      );
      expect(summaryOf(run)).toMatchObject({ queued: 1, failed: 1 });
    });
  });

  it.each([
    [['sync'], /sync takes SOURCE_REGISTRY and DESTINATION_REGISTRY \(got 0 arguments\)/],
    [
      ['sync', '127.0.0.1:5000/team', '127.0.0.1:5001'],
      /SOURCE_REGISTRY "127.0.0.1:5000\/team" is not a registry host\[:port\]/,
    ],
    [
      ['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--direct', '--enqueue', QUEUE_URL],
      /--direct and --enqueue are exclusive/,
    ],
    [
      ['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--enqueue', QUEUE_URL],
      /--enqueue ".*requests.fifo" is a FIFO queue \(the request queue\): give the scan queue \(the stack's ScanQueueUrl output\)/,
    ],
    [['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--enqueue', 'not-a-url'], /is not the URL of an SQS queue/],
    [
      ['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--enqueue', SCAN_QUEUE_URL, '--source-region', 'us-east-1'],
      /unknown option --source-region/,
    ],
    [
      ['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--config', '/nonexistent/config.json'],
      /--config \/nonexistent\/config.json: cannot read the file \(ENOENT\)/,
    ],
    [
      ['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--concurrency', '0'],
      /--concurrency must be a whole number from 1 to 64/,
    ],
    [
      ['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--dest-secret', 'x'],
      /--dest-secret and --dest-creds .* are exclusive/,
    ],
    [['sync', '127.0.0.1:5000', '127.0.0.1:5001', '--bogus'], /unknown option --bogus\n/],
  ])('exits 2 on bad usage %j', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Run "ecr-replicate help sync" for usage.');
    expect(sqs.commandCalls(SendMessageCommand)).toHaveLength(0);
  });

  it('exits 2 naming the field of a bad configuration', async () => {
    const file = join(dir, 'bad-config.json');
    await writeFile(file, JSON.stringify({ deletes: 'yes', tags: { include: ['regex:('] } }));
    const run = await cli(['sync', source.host, destination.host, '--config', file]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--config .*bad-config.json: invalid replication configuration: .*deletes/);
    const fromEnv = await cli(['sync', source.host, destination.host], { env: { REPLICATION_CONFIG: '{not json' } });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(/^ecr-replicate sync: REPLICATION_CONFIG: /);
  });

  it('documents every option in --help', async () => {
    const run = await cli(['sync', '--help']);
    expect(run.code).toBe(0);
    for (const option of [
      '--dry-run',
      '--direct',
      '--enqueue',
      '--config',
      '--src-creds',
      '--dest-creds',
      '--dest-secret',
      '--plain-http',
      '--concurrency',
      '--retries',
      '--json',
    ]) {
      expect(run.stdout).toContain(option);
    }
    expect((await cli(['--help'])).stdout).toMatch(
      /sync SOURCE_REGISTRY DESTINATION_REGISTRY[\s\S]*status \[REPOSITORY\[:TAG\]\]/,
    );
  });
});
