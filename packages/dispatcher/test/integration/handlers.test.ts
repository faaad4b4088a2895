import { CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { JobStore } from '@ecr-replicate/common/state';
import { mockClient } from 'aws-sdk-client-mock';
import type * as BuildStateHandler from '../../src/handlers/build-state';
import type * as QueueHandler from '../../src/handlers/requests';
import type * as RetryHandler from '../../src/handlers/job-retries';
import {
  REQUEST_QUEUE_URL,
  RETRY_QUEUE_URL,
  WORKER_PROJECT,
  freshTable,
  keyOf,
  request,
  sqsEvent,
  sqsRecord,
} from '../support/fixtures';
import {
  FAKE_SECRET_ACCESS_KEY,
  FAKE_SESSION_TOKEN,
  lambdaContext,
  lambdaRuntimeEnvironment,
  startLocalDynamoDb,
  type LocalDynamoDb,
  captureOutput,
  jsonLines,
} from '@ecr-replicate/testing';

/**
 * The three handler modules as Lambda runs them: loaded with an environment
 * (settings are read and clients made when the module loads), talking to a
 * real DynamoDB API (dynalite); CodeBuild and SQS are stubbed at the client.
 */

const FAKE_BEARER = 'eyJGQUtFIjoiYmVhcmVyIHRva2VuIn0.FAKEBEARERTOKEN';
const FAKE_PASSWORD = 'FAKE-password-0123456789';
const FAKE_DEST_SECRET = 'FAKEdestinationSECRETaccessKEY0123456789ab';

const codebuildMock = mockClient(CodeBuildClient);
const sqsMock = mockClient(SQSClient);
let dynamo: LocalDynamoDb;
let store: JobStore;
let queue: typeof QueueHandler;
let buildState: typeof BuildStateHandler;
let retry: typeof RetryHandler;

beforeAll(async () => {
  dynamo = await startLocalDynamoDb();
  const table = await freshTable(dynamo);
  store = new JobStore(dynamo.documentClient, table);
  Object.assign(process.env, lambdaRuntimeEnvironment(), {
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    JOB_TABLE: table,
    WORKER_PROJECT_NAME: WORKER_PROJECT,
    LEASE_SECONDS: '600',
    MAX_ATTEMPTS: '2',
    REQUEST_QUEUE_URL,
    RETRY_QUEUE_URL,
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
    POWERTOOLS_LOGGER_LOG_EVENT: 'true',
  });
  // Loaded after the environment is set, in this file's module registry (where the client mocks apply).
  /* eslint-disable @typescript-eslint/no-require-imports */
  queue = require('../../src/handlers/requests') as typeof QueueHandler;
  buildState = require('../../src/handlers/build-state') as typeof BuildStateHandler;
  retry = require('../../src/handlers/job-retries') as typeof RetryHandler;
  /* eslint-enable @typescript-eslint/no-require-imports */
});

afterAll(async () => {
  await dynamo.stop();
});

beforeEach(() => {
  codebuildMock.reset();
  codebuildMock.on(StartBuildCommand).resolves({ build: { id: `${WORKER_PROJECT}:b-1` } });
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'sent' });
});

/** A request message carrying secret-looking extras: in its body (the schema drops them) and as a message attribute. */
function messageWithSecrets(tag: string) {
  const record = sqsRecord(
    JSON.stringify({ ...request(tag), secretaccesskey: FAKE_DEST_SECRET, password: FAKE_PASSWORD }),
    {
      groupId: keyOf(tag),
    },
  );
  record.messageAttributes = { authorization: { dataType: 'String', stringValue: `Bearer ${FAKE_BEARER}` } };
  return record;
}

function expectNoSecret(output: string): void {
  for (const secret of [FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN, FAKE_BEARER, FAKE_PASSWORD, FAKE_DEST_SECRET]) {
    expect(output).not.toContain(secret);
  }
}

describe('dispatcher handlers', () => {
  it('queue handler: records, leases and starts a build with the environment’s settings', async () => {
    const { result, error } = await captureOutput(() =>
      queue.handler(sqsEvent(sqsRecord(request('h1'))), lambdaContext('dispatcher-queue')),
    );
    expect(error).toBeUndefined();
    expect(result).toEqual({ batchItemFailures: [] });
    const input = codebuildMock.commandCalls(StartBuildCommand)[0]?.args[0].input;
    expect(input?.projectName).toBe(WORKER_PROJECT);
    const record = await store.get(keyOf('h1'));
    expect(record).toMatchObject({ status: 'IN_PROGRESS' });
    expect((record?.leaseExpiresAt ?? 0) - (record?.startedAt ?? 0)).toBe(600_000);
    expect(record?.leaseOwner).toMatch(/^dispatch-[0-9a-f-]{36}$/);
  });

  it('never logs a secret during a run, even at DEBUG with event logging asked for, and masks one in an error', async () => {
    codebuildMock
      .on(StartBuildCommand)
      .rejects(
        Object.assign(
          new Error(`signature mismatch for Authorization: Bearer ${FAKE_BEARER} (password=${FAKE_PASSWORD})`),
          { name: 'AccessDeniedException' },
        ),
      );
    const queued = await captureOutput(() =>
      queue.handler(sqsEvent(messageWithSecrets('h2'), sqsRecord(request('h3'))), lambdaContext('dispatcher-queue')),
    );
    expect(queued.result?.batchItemFailures).toHaveLength(2);
    // The failure was logged, with the secrets in its message masked.
    expect(jsonLines(queued.output)).toContainEqual(
      expect.objectContaining({
        message: 'could not start a worker build; releasing its leases',
        reason: expect.stringContaining('Bearer ***'),
      }),
    );
    expectNoSecret(queued.output);
  });

  it('build-state and retry handlers: a dead build’s job goes back to the queue', async () => {
    await captureOutput(() => queue.handler(sqsEvent(sqsRecord(request('h4'))), lambdaContext('dispatcher-queue')));
    const owner = (await store.get(keyOf('h4')))?.leaseOwner ?? '';
    const event = {
      version: '0',
      id: 'e-build',
      'detail-type': 'CodeBuild Build State Change',
      source: 'aws.codebuild',
      account: '123456789012',
      time: '2026-11-16T02:10:00Z',
      region: 'us-west-2',
      resources: [],
      detail: {
        'build-status': 'FAILED',
        'project-name': WORKER_PROJECT,
        'build-id': `${WORKER_PROJECT}:b-1`,
        'additional-information': {
          environment: {
            'environment-variables': [
              { name: 'JOB_KEYS', value: JSON.stringify([keyOf('h4')]), type: 'PLAINTEXT' },
              { name: 'LEASE_OWNER', value: owner, type: 'PLAINTEXT' },
              { name: 'SOME_TOKEN', value: FAKE_BEARER, type: 'PLAINTEXT' },
            ],
          },
        },
      },
    };
    const died = await captureOutput(() => buildState.handler(event, lambdaContext('dispatcher-build-state')));
    expect(died.error).toBeUndefined();
    expect(died.result).toEqual({ kind: 'handled', outcomes: { [keyOf('h4')]: 'retry' } });
    expectNoSecret(died.output);

    const retryMessage = sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(retryMessage).toMatchObject({ QueueUrl: RETRY_QUEUE_URL, DelaySeconds: 30 });
    sqsMock.resetHistory();

    const record = sqsRecord(retryMessage?.MessageBody ?? '');
    delete record.attributes.MessageGroupId;
    record.messageAttributes = { attempt: { dataType: 'Number', stringValue: '1' } };
    const forwarded = await captureOutput(() => retry.handler(sqsEvent(record), lambdaContext('dispatcher-retry')));
    expect(forwarded.result).toEqual({ batchItemFailures: [] });
    expect(sqsMock.commandCalls(SendMessageCommand)[0]?.args[0].input).toMatchObject({
      QueueUrl: REQUEST_QUEUE_URL,
      MessageGroupId: keyOf('h4'),
    });
  });
});
