/**
 * The scheduled repair Lambda (the fan-out's start) and the scan Lambda against two real registries (the destination
 * behind Basic auth), with ECR, Secrets Manager and SQS from aws-sdk-client-mock.
 */
import { GetAuthorizationTokenCommand, ECRClient } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { parseReplicationRequestJson, parseScanUnitJson } from '@ecr-replicate/common';
import type { SQSEvent } from 'aws-lambda';
import {
  captureOutput,
  dockerImage,
  jsonLines,
  lambdaContext,
  lambdaRuntimeEnvironment,
  metricLines,
  pushImage,
  startRegistry,
  FAKE_SECRET_ACCESS_KEY,
  type LocalRegistry,
} from '@ecr-replicate/testing';
import type * as RepairHandler from '../../src/handler';
import type * as ScanHandler from '../../src/scan-handler';

const USER = 'AWS';
const PASSWORD = 'repair-test-password';

const sqs = mockClient(SQSClient);
const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

let source: LocalRegistry;
let destination: LocalRegistry;

beforeAll(async () => {
  [source, destination] = await Promise.all([
    startRegistry(),
    startRegistry({ htpasswd: { username: USER, password: PASSWORD } }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([source?.stop(), destination?.stop()]);
});

beforeEach(() => {
  sqs.reset();
  ecr.reset();
  secrets.reset();
});

describe('repair Lambdas: the scheduled start and the scan', () => {
  const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzREPAIR';
  const ACCESS_KEY = 'AKIAIOSFODNN7REPAIR1';
  const SECRET = JSON.stringify({
    user: 'ecr-replicate',
    accesskey: ACCESS_KEY,
    secretaccesskey: SECRET_KEY,
    partition: 'aws-us-gov',
    accountid: '210987654321',
    region: 'us-gov-west-1',
  });

  const savedEnv = { ...process.env };
  afterAll(() => {
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  const SCAN_QUEUE_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-scan';
  const REQUEST_QUEUE_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo';
  const CONFIG = JSON.stringify({
    repositories: { include: ['prefix:s9/'] },
    mapping: { prefixes: [{ from: 's9/', to: 'mirror/s9/' }] },
  });

  it('fans out: one scan unit per selected repository on the scan queue, no secret read', async () => {
    const image = dockerImage({ seed: 'sync-lambda' });
    await pushImage(source, 's9/app', image, 'v1');
    await pushImage(source, 's9/app', image, 'v2');
    await pushImage(source, 's9/other', image, 'v1');
    await pushImage(source, 'unselected', image, 'v1');
    await pushImage(destination, 'mirror/s9/app', image, 'v1');
    Object.assign(process.env, lambdaRuntimeEnvironment(), {
      SCAN_QUEUE_URL,
      SOURCE_REGISTRY: source.host,
      REPLICATION_CONFIG: CONFIG,
    });
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') }] });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-unit' });
    // The handler reads its settings when loaded, as Lambda loads it at cold start: load it now.
    const { handler } = jest.requireActual<typeof RepairHandler>('../../src/handler');

    const { result, error, output } = await captureOutput(() =>
      handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, lambdaContext()),
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ repositories: 2, queued: 2, failed: 0, scanId: expect.stringMatching(/^repair-/) });
    const units = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(units.every((u) => u.QueueUrl === SCAN_QUEUE_URL)).toBe(true);
    expect(units.map((u) => parseScanUnitJson(u.MessageBody as string).sourceRepository).sort()).toEqual([
      's9/app',
      's9/other',
    ]);
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(0);
    expect(metricLines(output, 'ScanUnitsQueued')[0]).toMatchObject({
      ScanUnitsQueued: 2,
      RepairFailures: 0,
      service: 'repair',
    });
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({ message: 'repair fanned out', repositories: 2, queued: 2 }),
    );

    // A run that cannot start (the source listing fails) throws (the invocation is an error) and says why.
    ecr.on(GetAuthorizationTokenCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const failed = await captureOutput(() => handler({}, lambdaContext()));
    expect(failed.error).toBeDefined();
    expect(jsonLines(failed.output)).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: 'repair failed' }),
    );
  });

  it('the scan Lambda queues a request per differing tag of its unit, with the function’s account and region as the source', async () => {
    Object.assign(process.env, lambdaRuntimeEnvironment(), {
      REQUEST_QUEUE_URL,
      SCAN_QUEUE_URL,
      DEST_SECRET_ID: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:ecr-replicate/destination-AbCdEf',
      SOURCE_REGISTRY: source.host,
      DEST_REGISTRY: destination.host,
      REPLICATION_CONFIG: CONFIG,
      REPAIR_CONCURRENCY: '4',
    });
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') }] });
    secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-lambda' });
    const { handler } = jest.requireActual<typeof ScanHandler>('../../src/scan-handler');
    const unit = {
      version: 1,
      scanId: 'repair-2026-11-30T14:00:00.000Z-abc123',
      origin: 'repair',
      plannedAt: '2026-11-30T14:00:00.000Z',
      sourceRepository: 's9/app',
      part: 0,
    };
    const image = dockerImage({ seed: 'sync-lambda' });
    const event = {
      Records: [
        { messageId: 'good', body: JSON.stringify(unit), attributes: { ApproximateReceiveCount: '1' } },
        { messageId: 'bad', body: '{"version":1}', attributes: { ApproximateReceiveCount: '1' } },
      ],
    } as unknown as SQSEvent;

    const { result, error, output } = await captureOutput(() => handler(event, lambdaContext()));
    expect(error).toBeUndefined();
    // The unit that is not one is reported (delivered again, then kept in the dead-letter queue); the other is done.
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'bad' }] });
    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.QueueUrl).toBe(REQUEST_QUEUE_URL);
    const request = parseReplicationRequestJson(calls[0]!.args[0].input.MessageBody as string);
    expect(request).toMatchObject({
      action: 'PUSH',
      origin: 'repair',
      tag: 'v2',
      digest: image.root.digest,
      source: { accountId: '123456789012', region: 'us-west-2', repository: 's9/app' },
      destination: { repository: 'mirror/s9/app' },
    });
    // The destination token was asked for with the secret's keys, in the destination's region.
    const regions = await Promise.all(
      ecr.commandCalls(GetAuthorizationTokenCommand).map((c) => (c.thisValue as ECRClient).config.region()),
    );
    expect(regions).toContain('us-gov-west-1');
    expect(metricLines(output, 'ScanUnits')[0]).toMatchObject({
      ScanUnits: 1,
      DriftDetected: 1,
      RequestsQueued: 1,
      RepairFailures: 1,
      service: 'repair',
    });
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({
        message: 'scan unit done',
        scanId: unit.scanId,
        outcome: 'done',
        compared: 2,
        queued: 1,
        handler: 'scan',
        function_request_id: lambdaContext().awsRequestId,
      }),
    );
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: 'scan unit failed', messageId: 'bad' }),
    );
    for (const secret of [SECRET_KEY, ACCESS_KEY, PASSWORD, FAKE_SECRET_ACCESS_KEY])
      expect(output).not.toContain(secret);
  });
});
