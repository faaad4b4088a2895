import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCode, ReplicationError } from '../errors';
import { messageGroupIdOf, type ReplicationRequest } from '../models/request';
import { deduplicationIdOf } from './fifo-ids';

/**
 * Sends one request to the FIFO request queue: the group is the job (so
 * requests for one tag are delivered in order), the deduplication id the
 * event id (so EventBridge's redeliveries are dropped by SQS for 5 minutes).
 * Returns the SQS message id; throws AWS_SERVICE when SQS refuses.
 */
export async function sendRequest(
  sqs: SQSClient,
  queueUrl: string,
  request: ReplicationRequest,
): Promise<string | undefined> {
  try {
    const output = await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify(request),
        MessageGroupId: messageGroupIdOf(request),
        MessageDeduplicationId: deduplicationIdOf(request.eventId),
      }),
    );
    return output.MessageId;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ReplicationError(
      ErrorCode.AwsService,
      `SQS SendMessage of event ${request.eventId} to ${queueUrl} failed: ${reason}`,
      {
        cause: error,
        details: { eventId: request.eventId, queueUrl },
      },
    );
  }
}
