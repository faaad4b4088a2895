/**
 * `ecr-replicate status` against the job table on dynalite: every status,
 * text and JSON, filters, and errors.
 */
import { type ReplicationRequest } from '@ecr-replicate/common';
import { JobStore, createJobTable } from '@ecr-replicate/common/state';
import { startLocalDynamoDb, type LocalDynamoDb } from '@ecr-replicate/testing';
import { spawn } from 'node:child_process';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { mockClient } from 'aws-sdk-client-mock';
import { join } from 'node:path';
import { jsonLinesOf, runCli, type CliRun } from '../support/cli';

const BIN = join(__dirname, '..', '..', 'bin', 'ecr-replicate.js');

const TABLE = 'ecr-replicate-jobs';
const DIGEST = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
const HOUR = 3_600_000;

const cloudFormation = mockClient(CloudFormationClient);
let dynamo: LocalDynamoDb;
let env: NodeJS.ProcessEnv;

const cli = (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
  runCli(['status', ...args], { env: { ...env, ...extraEnv } });
const jsonRecords = jsonLinesOf;

let sequence = 0;
function request(repository: string, tag: string | undefined, digest: string, time: number): ReplicationRequest {
  sequence += 1;
  return {
    version: 1,
    eventId: `event-${sequence}`,
    eventTime: new Date(time).toISOString(),
    action: 'PUSH',
    source: { accountId: '123456789012', region: 'us-east-1', repository: repository.replace('mirror/', '') },
    destination: { repository },
    ...(tag !== undefined ? { tag } : {}),
    digest,
  };
}

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
  await createJobTable(dynamo.client, TABLE);
  env = {
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
  };
  const store = new JobStore(dynamo.documentClient, TABLE);
  const now = Date.now();
  // COMPLETE, 3 hours ago.
  await store.recordRequest(request('mirror/team/app', 'v1', DIGEST(1), now - 4 * HOUR), now - 4 * HOUR);
  await store.acquireLease('mirror/team/app:v1', 'build-1', 60_000, now - 4 * HOUR);
  await store.finish(
    'mirror/team/app:v1',
    'build-1',
    { status: 'COMPLETE', replicatedDigest: DIGEST(1), bytesCopied: 1234, durationSeconds: 2.5 },
    now - 3 * HOUR,
  );
  // FAILED with its error, 2 days ago.
  await store.recordRequest(request('mirror/team/app', 'v2', DIGEST(2), now - 50 * HOUR), now - 50 * HOUR);
  await store.acquireLease('mirror/team/app:v2', 'build-2', 60_000, now - 50 * HOUR);
  await store.finish(
    'mirror/team/app:v2',
    'build-2',
    {
      status: 'FAILED',
      error: { code: 'IMMUTABLE_TAG_CONFLICT', message: 'the tag v2 is immutable at the destination' },
    },
    now - 49 * HOUR,
  );
  // IN_PROGRESS, leased by a worker, 30 seconds ago.
  await store.recordRequest(request('mirror/team/app', 'v3', DIGEST(3), now - 40_000), now - 40_000);
  await store.acquireLease('mirror/team/app:v3', 'build-3', 15 * 60_000, now - 30_000);
  // PENDING in another repository, and a tagless job.
  await store.recordRequest(request('mirror/other/tool', 'latest', DIGEST(4), now - 5 * 60_000), now - 5 * 60_000);
  await store.recordRequest(request('mirror/other/tool', undefined, DIGEST(5), now - 5 * 60_000), now - 5 * 60_000);
}, 30_000);

afterAll(async () => {
  await dynamo?.stop();
});

describe('ecr-replicate status', () => {
  it('prints one row per job: status, digests, attempts, age, lease or last error', async () => {
    const run = await cli(['--table', TABLE]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^JOB\s+STATUS\s+DESIRED\s+REPLICATED\s+ATTEMPTS\s+AGE\s+DETAIL$/);
    expect(lines.slice(1, 6).map((l) => l.split(/\s+/)[0])).toEqual([
      'mirror/other/tool:latest',
      'mirror/other/tool@sha256:555555555555',
      'mirror/team/app:v1',
      'mirror/team/app:v2',
      'mirror/team/app:v3',
    ]);
    expect(run.stdout).toMatch(
      /^mirror\/team\/app:v1\s+COMPLETE\s+sha256:111111111111\s+sha256:111111111111\s+0\s+3h$/m,
    );
    expect(run.stdout).toMatch(
      /^mirror\/team\/app:v2\s+FAILED\s+sha256:222222222222\s+-\s+1\s+2d\s+IMMUTABLE_TAG_CONFLICT: the tag v2 is immutable at the destination$/m,
    );
    expect(run.stdout).toMatch(
      /^mirror\/team\/app:v3\s+IN_PROGRESS\s+sha256:333333333333\s+-\s+0\s+3\ds\s+leased to build-3 until \d{4}-\d\d-\d\dT/m,
    );
    expect(run.stdout).toMatch(/^mirror\/other\/tool:latest\s+PENDING\s+sha256:444444444444\s+-\s+0\s+5m$/m);
    expect(lines.at(-1)).toBe('5 jobs: 2 PENDING, 1 COMPLETE, 1 FAILED, 1 IN_PROGRESS');
  });

  it('prints one JSON object per job with --json', async () => {
    const run = await cli(['--table', TABLE, '--json']);
    expect(run.code).toBe(0);
    const jobs = jsonRecords(run);
    expect(jobs).toHaveLength(5);
    expect(jobs.find((j) => j.tag === 'v1')).toMatchObject({
      jobKey: 'mirror/team/app:v1',
      repository: 'mirror/team/app',
      status: 'COMPLETE',
      desiredDigest: DIGEST(1),
      replicatedDigest: DIGEST(1),
      attempts: 0,
      bytesCopied: 1234,
      source: { accountId: '123456789012', region: 'us-east-1', repository: 'team/app' },
    });
    expect(jobs.find((j) => j.tag === 'v1')?.ageSeconds).toBeGreaterThanOrEqual(3 * 3600);
    expect(jobs.find((j) => j.tag === 'v2')).toMatchObject({
      status: 'FAILED',
      attempts: 1,
      lastError: { code: 'IMMUTABLE_TAG_CONFLICT', message: 'the tag v2 is immutable at the destination' },
    });
    expect(jobs.find((j) => j.tag === 'v3')).toMatchObject({
      status: 'IN_PROGRESS',
      leaseOwner: 'build-3',
      leaseExpiresAt: expect.any(String),
    });
    expect(jobs.find((j) => j.tag === 'v1')).not.toHaveProperty('leaseOwner');
  });

  it('filters by repository, by tag and by status', async () => {
    const repository = await cli(['mirror/other/tool', '--table', TABLE, '--json']);
    expect(jsonRecords(repository).map((j) => j.jobKey)).toEqual([
      'mirror/other/tool:latest',
      `mirror/other/tool@${DIGEST(5)}`,
    ]);

    const tag = await cli(['mirror/team/app:v2', '--table', TABLE]);
    expect(tag.code).toBe(0);
    expect(tag.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(tag.stdout).toContain('1 job: 1 FAILED');

    const digest = await cli([`mirror/other/tool@${DIGEST(5)}`, '--table', TABLE, '--json']);
    expect(jsonRecords(digest)).toEqual([
      expect.objectContaining({ jobKey: `mirror/other/tool@${DIGEST(5)}`, status: 'PENDING' }),
    ]);
    expect(jsonRecords(digest)[0]).not.toHaveProperty('tag');

    const failed = await cli(['--table', TABLE, '--status', 'failed', '--json']);
    expect(jsonRecords(failed).map((j) => j.jobKey)).toEqual(['mirror/team/app:v2']);

    const both = await cli(['mirror/team/app', '--table', TABLE, '--status', 'IN_PROGRESS', '--json']);
    expect(jsonRecords(both).map((j) => j.jobKey)).toEqual(['mirror/team/app:v3']);

    const none = await cli(['mirror/team/app:v9', '--table', TABLE]);
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe(`no job in table "${TABLE}" for mirror/team/app:v9\n`);

    const fromEnv = await cli(['mirror/team/app:v1', '--json'], { JOB_TABLE: TABLE });
    expect(jsonRecords(fromEnv)).toEqual([expect.objectContaining({ status: 'COMPLETE' })]);
  });

  it('exits 1 naming the table when it cannot be read', async () => {
    const run = await cli(['--table', 'no-such-table']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^ecr-replicate status: cannot read the job table "no-such-table": ResourceNotFoundException: .*\(are the name, region and account right\?\)\n$/,
    );

    const unreachable = await cli(['mirror/team/app:v1', '--table', TABLE], {
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9',
    });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toBe(
      `ecr-replicate status: cannot read the job table "${TABLE}": connect ECONNREFUSED 127.0.0.1:9\n`,
    );
  });

  it.each([
    [
      [],
      /give the job table: --stage STAGE \(the deployed stack ecr-partition-replicate-STAGE says it\), --stack NAME, or --table NAME \(or JOB_TABLE\)/,
    ],
    [['--stage', 'prod', '--stack', 'x'], /--stage and --stack both name the stack/],
    [['--stage', 'pr od'], /--stage "pr od" is not a stack or stage name/],
    [['--table', 'x'], /--table "x" is not a DynamoDB table name/],
    [['--table', TABLE, '--status', 'DONE'], /--status "DONE" is not one of PENDING, IN_PROGRESS, COMPLETE, FAILED/],
    [['Team/App', '--table', TABLE], /REPOSITORY "Team\/App": .*lowercase/],
    [['team/app:bad tag', '--table', TABLE], /TAG "bad tag": /],
    [['team/app@sha256:nothex', '--table', TABLE], /DIGEST "sha256:nothex": /],
    [['a', 'b', '--table', TABLE], /status takes at most one REPOSITORY\[:TAG\] \(got 2 arguments\)/],
    [['--table', TABLE, '--region', 'mars'], /--region "mars" is not an AWS region/],
    [['--table', TABLE, '--bogus'], /unknown option --bogus\n/],
    [['--table', TABLE, '--wacth'], /unknown option --wacth \(did you mean --watch\?\)/],
    [['--table', TABLE, '--interval', '2'], /--interval goes with --watch/],
  ])('exits 2 on bad usage %j', async (args, message) => {
    const run = await cli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Run "ecr-replicate help status" for usage.');
  });

  it('finds the table from the deployed stack (--stage, --stack) and names a stack without it', async () => {
    cloudFormation.reset();
    cloudFormation.on(DescribeStacksCommand, { StackName: 'ecr-partition-replicate-test' }).resolves({
      Stacks: [
        {
          StackName: 'ecr-partition-replicate-test',
          CreationTime: new Date(),
          StackStatus: 'UPDATE_COMPLETE',
          Outputs: [
            { OutputKey: 'RequestQueueUrl', OutputValue: 'https://sqs.us-east-1.amazonaws.com/1/q.fifo' },
            { OutputKey: 'JobTableName', OutputValue: TABLE },
          ],
        },
      ],
    });
    cloudFormation.on(DescribeStacksCommand, { StackName: 'destination-stack' }).resolves({
      Stacks: [{ StackName: 'destination-stack', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE' }],
    });
    const byStage = await cli(['mirror/team/app:v2', '--stage', 'test', '--json']);
    expect(byStage.code).toBe(0);
    expect(jsonRecords(byStage)).toEqual([expect.objectContaining({ jobKey: 'mirror/team/app:v2', status: 'FAILED' })]);
    const byStack = await cli(['mirror/team/app:v2', '--stack', 'ecr-partition-replicate-test', '--json']);
    expect(jsonRecords(byStack)).toHaveLength(1);
    const wrong = await cli(['--stack', 'destination-stack']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('stack destination-stack has no JobTableName output: is it the source stack?');
    // --table (or JOB_TABLE) wins: no CloudFormation call.
    const calls = cloudFormation.commandCalls(DescribeStacksCommand).length;
    expect((await cli(['mirror/team/app:v2', '--table', TABLE, '--stage', 'test'])).code).toBe(0);
    expect(cloudFormation.commandCalls(DescribeStacksCommand)).toHaveLength(calls);
  });

  it('--watch reads again every interval, shows a change, and stops cleanly on Ctrl-C (the installed bin)', async () => {
    const store = new JobStore(dynamo.documentClient, TABLE);
    const now = Date.now();
    await store.recordRequest(request('mirror/watch/app', 'v1', DIGEST(7), now), now);
    const child = spawn(
      process.execPath,
      [BIN, 'status', 'mirror/watch/app:v1', '--table', TABLE, '--watch', '--interval', '0.3'],
      { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const waitFor = async (pattern: RegExp): Promise<void> => {
      const deadline = Date.now() + 30_000;
      while (!pattern.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(out).toMatch(pattern);
    };
    try {
      await waitFor(/mirror\/watch\/app:v1\s+PENDING/);
      await store.acquireLease('mirror/watch/app:v1', 'build-w', 60_000, Date.now());
      await waitFor(/mirror\/watch\/app:v1\s+IN_PROGRESS/);
      expect(out.match(/every 0\.3 s \(Ctrl-C to stop\)/g)?.length ?? 0).toBeGreaterThanOrEqual(2);
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('documents every option in --help', async () => {
    const run = await cli(['--help']);
    expect(run.code).toBe(0);
    for (const option of ['--table', '--status', '--region', '--json', 'AWS_ENDPOINT_URL_DYNAMODB'])
      expect(run.stdout).toContain(option);
  });
});
