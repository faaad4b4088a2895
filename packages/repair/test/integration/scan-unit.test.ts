/**
 * The fan-out scan against two real registries: units that split into pages and continue by message end with the
 * same requests as one whole plan (planSync) of the same registries. SQS from aws-sdk-client-mock.
 */
import { SendMessageCommand, SQSClient, type SendMessageCommandInput } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import {
  parseReplicationConfig,
  parseReplicationRequestJson,
  parseScanUnitJson,
  type ReplicationConfig,
  type ReplicationRequest,
  type ScanUnit,
} from '@ecr-replicate/common';
import { RegistryClient } from '@ecr-replicate/oci';
import { cosignSignature, dockerImage, pushImage, startRegistry, type LocalRegistry } from '@ecr-replicate/testing';
import { fanOutScan, planSync, runScanUnit, type ScanUnitDependencies, type ScanUnitResult } from '../../src';

const SCAN_QUEUE = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-scan';
const REQUEST_QUEUE = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo';
const SOURCE = { accountId: '123456789012', region: 'us-west-2' };

const sqs = mockClient(SQSClient);
let source: LocalRegistry;
let destination: LocalRegistry;
let sourceClient: RegistryClient;
let destinationClient: RegistryClient;
/** What SQS got, per queue (a refused send is not recorded). */
let sent: { scan: ScanUnit[]; requests: ReplicationRequest[] };
let refuse: ((input: SendMessageCommandInput) => boolean) | undefined;

const config: ReplicationConfig = parseReplicationConfig({
  repositories: { include: ['prefix:fan/'] },
  mapping: { prefixes: [{ from: 'fan/', to: 'mirror/fan/' }] },
  deletes: true,
});

beforeAll(async () => {
  [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
  sourceClient = new RegistryClient({ host: source.host, plainHttp: true });
  destinationClient = new RegistryClient({ host: destination.host, plainHttp: true });

  // fan/big: 9 tags (three copies, one update, one equal image whose signature is missing at the destination,
  // equal ones), plus a destination tag the source lacks (a delete). fan/small: one copy. other/x: not selected.
  const one = dockerImage({ seed: 'scan-one' });
  const two = dockerImage({ seed: 'scan-two' });
  const signed = dockerImage({ seed: 'scan-signed' });
  const signature = cosignSignature(signed.root, 'scan-signed');
  for (const tag of ['a1', 'a2', 'a3', 'b1', 'b2', 'c1']) await pushImage(source, 'fan/big', one, tag);
  await pushImage(source, 'fan/big', two, 'c2');
  await pushImage(source, 'fan/big', signed, 'd1');
  await pushImage(source, 'fan/big', signature, signature.tag);
  await pushImage(source, 'fan/big', one, 'e1');
  for (const tag of ['a1', 'b1', 'b2', 'e1']) await pushImage(destination, 'mirror/fan/big', one, tag);
  await pushImage(destination, 'mirror/fan/big', one, 'c2'); // another digest than the source's
  await pushImage(destination, 'mirror/fan/big', signed, 'd1'); // equal, but its signature is missing
  await pushImage(destination, 'mirror/fan/big', two, 'zz-gone'); // the source lacks it
  await pushImage(source, 'fan/small', two, 'only');
  await pushImage(source, 'other/x', two, 'v1');
}, 120_000);

afterAll(async () => {
  await Promise.all([sourceClient?.close(), destinationClient?.close()]);
  await Promise.all([source?.stop(), destination?.stop()]);
});

beforeEach(() => {
  sent = { scan: [], requests: [] };
  refuse = undefined;
  sqs.reset();
  sqs.on(SendMessageCommand).callsFake((input: SendMessageCommandInput) => {
    if (refuse?.(input) === true) throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
    if (input.QueueUrl === SCAN_QUEUE) sent.scan.push(parseScanUnitJson(input.MessageBody as string));
    else if (input.QueueUrl === REQUEST_QUEUE)
      sent.requests.push(parseReplicationRequestJson(input.MessageBody as string));
    else throw new Error(`unexpected queue ${input.QueueUrl}`);
    return { MessageId: `m-${sent.scan.length + sent.requests.length}` };
  });
});

function deps(overrides: Partial<ScanUnitDependencies> = {}): ScanUnitDependencies {
  return {
    source: sourceClient,
    destination: destinationClient,
    config,
    sourceIdentity: SOURCE,
    sqs: new SQSClient({ region: 'us-west-2' }),
    requestQueueUrl: REQUEST_QUEUE,
    scanQueueUrl: SCAN_QUEUE,
    concurrency: 4,
    pageTags: 1_000,
    remainingMs: () => 60_000,
    ...overrides,
  };
}

/** A request as a comparable line: which tag, what action, which digest. */
function line(request: ReplicationRequest): string {
  return `${request.destination.repository}:${request.tag} ${request.action} ${request.digest}`;
}

/**
 * A unit's clock that says half its time is gone after its first chunk: 1 s left when it starts, 0.4 s after.
 */
function lowAfterFirstChunk(): () => number {
  let calls = 0;
  return () => (calls++ === 0 ? 1_000 : 400);
}

/** Runs the scan queue dry, as the scan Lambdas would: each unit sent is run once, with a fresh clock. */
async function drain(overrides: Partial<ScanUnitDependencies>): Promise<ScanUnitResult[]> {
  const results: ScanUnitResult[] = [];
  for (let next = 0; next < sent.scan.length; next += 1) {
    results.push(
      await runScanUnit(sent.scan[next] as ScanUnit, deps({ ...overrides, remainingMs: lowAfterFirstChunk() })),
    );
    if (next > 200) throw new Error('the scan does not end');
  }
  return results;
}

describe('fan-out scan', () => {
  it('sends one unit per selected repository; units split into pages and continue, and queue what one plan would', async () => {
    const fanOut = await fanOutScan({
      listRepositories: () => sourceClient.listRepositories(),
      config,
      sqs: new SQSClient({ region: 'us-west-2' }),
      scanQueueUrl: SCAN_QUEUE,
      origin: 'repair',
    });
    expect(fanOut).toMatchObject({ repositories: 2, queued: 2, failures: [] });
    expect(sent.scan.map((u) => u.sourceRepository).sort()).toEqual(['fan/big', 'fan/small']);
    expect(sent.scan.every((u) => u.scanId === fanOut.scanId && u.part === 0 && u.after === undefined)).toBe(true);

    // Pages of 4 tags, 2 tags per chunk, and a clock that says half the time is gone after every chunk.
    const results = await drain({ pageTags: 4, chunkTags: 2 });
    const big = results.filter((r) => r.sourceRepository === 'fan/big');
    // fan/big's scan order: a1 a2 a3 b1 b2 c1 c2 d1 e1 zz-gone (10 tags, the signature tag rides with d1):
    // pages (…, b1] (b1, d1] (d1, …); each page goes 2 tags per unit.
    expect(big.reduce((sum, r) => sum + r.pagesQueued, 0)).toBe(2);
    expect(big.reduce((sum, r) => sum + r.compared, 0)).toBe(10);
    // Each page of 4 ran out of time after 2 tags and was continued once; the last page (2 tags) did not need to.
    expect(big.filter((r) => r.outcome === 'continued').map((r) => r.remaining)).toEqual([2, 2]);
    const pages = sent.scan.filter((u) => u.sourceRepository === 'fan/big' && u.part === 0 && u.after !== undefined);
    expect(pages.map((u) => [u.after, u.until])).toEqual([
      ['b1', 'd1'],
      ['d1', undefined],
    ]);
    expect(sent.scan.some((u) => u.part > 0 && u.until === 'b1')).toBe(true); // the first page's continuation

    const plan = await planSync({
      source: sourceClient,
      destination: destinationClient,
      listRepositories: () => sourceClient.listRepositories(),
      config,
    });
    const planned = plan.entries.filter((e) => e.action !== 'ok');
    expect(planned.map((e) => `${e.tag} ${e.action}`).sort()).toEqual([
      'a2 copy',
      'a3 copy',
      'c1 copy',
      'c2 update',
      'd1 update',
      'only copy',
      'zz-gone delete',
    ]);
    // The same tags, the same actions, the same digests; each queued once.
    const fromPlan = planned.map((e) => {
      const digest = e.action === 'delete' ? e.destinationDigest : e.sourceDigest;
      return `${e.destinationRepository}:${e.tag} ${e.action === 'delete' ? 'DELETE' : 'PUSH'} ${digest}`;
    });
    expect(sent.requests.map(line).sort()).toEqual(fromPlan.sort());
    expect(new Set(sent.requests.map((r) => r.eventId)).size).toBe(sent.requests.length);
    expect(sent.requests.every((r) => r.origin === 'repair')).toBe(true);
    expect(sent.requests.every((r) => r.source.accountId === SOURCE.accountId)).toBe(true);
  });

  it('a unit with time to spare does its whole repository in one go and queues nothing twice when delivered twice', async () => {
    const unit: ScanUnit = {
      version: 1,
      scanId: 'repair-test-1',
      origin: 'sync',
      plannedAt: '2026-11-30T14:00:00.000Z',
      sourceRepository: 'fan/big',
      part: 0,
    };
    const first = await runScanUnit(unit, deps());
    expect(first).toMatchObject({ outcome: 'done', compared: 10, pagesQueued: 0, queued: 6, remaining: 0 });
    expect(sent.scan).toEqual([]);
    const again = await runScanUnit(unit, deps());
    // The same deduplication ids: SQS drops the second delivery's requests.
    const ids = (requests: ReplicationRequest[]): string[] => requests.map((r) => r.eventId).sort();
    expect(ids(sent.requests.slice(6))).toEqual(ids(sent.requests.slice(0, 6)));
    expect(again.queued).toBe(6);
  });

  it('skips a repository the configuration does not select', async () => {
    const result = await runScanUnit(
      {
        version: 1,
        scanId: 's',
        origin: 'repair',
        plannedAt: '2026-11-30T14:00:00.000Z',
        sourceRepository: 'other/x',
        part: 0,
      },
      deps(),
    );
    expect(result.outcome).toBe('not-selected');
    expect(sent.requests).toEqual([]);
  });

  it('throws when a request cannot be queued (the unit is delivered again) and when a continuation cannot be sent', async () => {
    const unit: ScanUnit = {
      version: 1,
      scanId: 'repair-test-2',
      origin: 'repair',
      plannedAt: '2026-11-30T14:00:00.000Z',
      sourceRepository: 'fan/big',
      part: 0,
    };
    refuse = (input) => input.QueueUrl === REQUEST_QUEUE && (input.MessageBody ?? '').includes('"c1"');
    await expect(runScanUnit(unit, deps())).rejects.toThrow(/1 request\(s\) could not be queued/);

    refuse = (input) => input.QueueUrl === SCAN_QUEUE;
    await expect(runScanUnit(unit, deps({ chunkTags: 2, remainingMs: lowAfterFirstChunk() }))).rejects.toThrow(
      /SendMessage of scan unit fan\/big after a2/,
    );
  });

  it('a listing that fails throws: nothing is lost', async () => {
    const broken = new RegistryClient({
      host: '127.0.0.1:1',
      plainHttp: true,
      retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    try {
      await expect(
        runScanUnit(
          {
            version: 1,
            scanId: 's',
            origin: 'repair',
            plannedAt: '2026-11-30T14:00:00.000Z',
            sourceRepository: 'fan/big',
            part: 0,
          },
          deps({ source: broken }),
        ),
      ).rejects.toThrow();
    } finally {
      await broken.close();
    }
  });
});
