/**
 * The scheduled repair Lambda against two real registries (the destination behind Basic auth), with ECR, Secrets
 * Manager and SQS from aws-sdk-client-mock.
 */
import { GetAuthorizationTokenCommand, ECRClient } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { parseReplicationRequestJson } from '@ecr-replicate/common';
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

describe('scheduled repair Lambda', () => {
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

  it('queues a request per differing tag with the function’s account and region as the source, and counts the drift', async () => {
    const image = dockerImage({ seed: 'sync-lambda' });
    await pushImage(source, 's9/app', image, 'v1');
    await pushImage(source, 's9/app', image, 'v2');
    await pushImage(destination, 'mirror/s9/app', image, 'v1');
    Object.assign(process.env, lambdaRuntimeEnvironment(), {
      REQUEST_QUEUE_URL: 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo',
      DEST_SECRET_ID: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:ecr-replicate/destination-AbCdEf',
      SOURCE_REGISTRY: source.host,
      DEST_REGISTRY: destination.host,
      REPLICATION_CONFIG: JSON.stringify({
        repositories: { include: ['prefix:s9/'] },
        mapping: { prefixes: [{ from: 's9/', to: 'mirror/s9/' }] },
      }),
      REPAIR_CONCURRENCY: '4',
    });
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') }] });
    secrets.on(GetSecretValueCommand).resolves({ SecretString: SECRET });
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-lambda' });
    // The handler reads its settings when loaded, as Lambda loads it at cold start: load it now.
    const { handler } = jest.requireActual<typeof RepairHandler>('../../src/handler');

    const { result, error, output } = await captureOutput(() =>
      handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' }, lambdaContext()),
    );
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ repositories: 1, tags: 2, ok: 1, copy: 1, drift: 1, queued: 1, failed: 0 });
    const calls = sqs.commandCalls(SendMessageCommand);
    expect(calls).toHaveLength(1);
    const request = parseReplicationRequestJson(calls[0]!.args[0].input.MessageBody as string);
    expect(request).toMatchObject({
      action: 'PUSH',
      tag: 'v2',
      digest: image.root.digest,
      source: { accountId: '123456789012', region: 'us-west-2', repository: 's9/app' },
      destination: { repository: 'mirror/s9/app' },
    });
    expect(calls[0]!.args[0].input.QueueUrl).toBe(process.env.REQUEST_QUEUE_URL);
    // The destination token was asked for with the secret's keys, in the destination's region.
    const regions = await Promise.all(
      ecr.commandCalls(GetAuthorizationTokenCommand).map((c) => (c.thisValue as ECRClient).config.region()),
    );
    expect(regions).toContain('us-gov-west-1');
    expect(metricLines(output, 'DriftDetected')).toHaveLength(1);
    expect(metricLines(output, 'DriftDetected')[0]).toMatchObject({
      DriftDetected: 1,
      RequestsQueued: 1,
      RepairFailures: 0,
      service: 'repair',
    });
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({
        message: 'repair done',
        drift: 1,
        queued: 1,
        function_request_id: lambdaContext().awsRequestId,
      }),
    );
    for (const secret of [SECRET_KEY, ACCESS_KEY, PASSWORD, FAKE_SECRET_ACCESS_KEY])
      expect(output).not.toContain(secret);

    // A run that cannot start throws (the invocation is an error) and says why.
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    const failed = await captureOutput(() => handler({}, lambdaContext()));
    expect(failed.error).toMatchObject({ message: expect.stringContaining('could not read the destination secret') });
    expect(jsonLines(failed.output)).toContainEqual(
      expect.objectContaining({ level: 'ERROR', message: 'repair failed' }),
    );
  });
});
