import '../support/handler-env';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../../src/handler';
import { ecrEvent } from '../support/events';
import {
  FAKE_SECRET_ACCESS_KEY,
  FAKE_SESSION_TOKEN,
  lambdaContext,
  captureOutput,
  jsonLines,
  metricLines,
} from '@ecr-replicate/testing';

const sqsMock = mockClient(SQSClient);

beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
});

describe('ingest handler', () => {
  it('queues a request with the settings of its environment', async () => {
    const { result, error, output } = await captureOutput(() => handler(ecrEvent(), lambdaContext()));
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ kind: 'sent', jobKey: 'mirror/team/app:v1.2.3' });
    expect(sqsMock.commandCalls(SendMessageCommand)[0]!.args[0].input.QueueUrl).toBe(process.env.REQUEST_QUEUE_URL);
    expect(metricLines(output, 'RequestsQueued')).toHaveLength(1);
    expect(jsonLines(output)).toContainEqual(
      expect.objectContaining({
        message: 'queued a replication request',
        function_request_id: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
      }),
    );
  });

  it('never logs the event nor the credentials of its environment, even at DEBUG with event logging asked for', async () => {
    const event = ecrEvent({ tag: null });
    (event.detail as Record<string, unknown>)['artifact-media-type'] = 'LEAKED-IF-THE-EVENT-IS-LOGGED';
    const { output } = await captureOutput(() => handler(event, lambdaContext()));
    expect(output).toContain('dropped an ECR event');
    for (const secret of [FAKE_SECRET_ACCESS_KEY, FAKE_SESSION_TOKEN, 'LEAKED-IF-THE-EVENT-IS-LOGGED'])
      expect(output).not.toContain(secret);
  });

  it('rejects an invalid event by throwing', async () => {
    await expect(
      captureOutput(() => handler({ id: 'e-1', detail: {} }, lambdaContext())).then((r) => r.error),
    ).resolves.toEqual(
      expect.objectContaining({
        message: expect.stringMatching(/^ECR event e-1 rejected: invalid ECR Image Action event: /),
      }),
    );
  });
});
