import { randomBytes } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ErrorCode, ReplicationError, type ScanUnit } from '@ecr-replicate/common';

/**
 * Sends one unit of a fan-out scan to the scan queue (a standard queue: units run in parallel, in no order). Returns
 * the SQS message id; throws AWS_SERVICE when SQS refuses.
 */
export async function sendScanUnit(sqs: SQSClient, queueUrl: string, unit: ScanUnit): Promise<string | undefined> {
  try {
    const output = await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(unit) }));
    return output.MessageId;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const what = `${unit.sourceRepository}${unit.after !== undefined ? ` after ${unit.after}` : ''}`;
    throw new ReplicationError(
      ErrorCode.AwsService,
      `SQS SendMessage of scan unit ${what} (scan ${unit.scanId}) to ${queueUrl} failed: ${reason}`,
      { cause: error, details: { scanId: unit.scanId, queueUrl } },
    );
  }
}

/** A new scan's id: who started it, when, and a few random characters (two starts in one millisecond differ). */
export function newScanId(origin: ScanUnit['origin'], plannedAt: string): string {
  return `${origin}-${plannedAt}-${randomBytes(3).toString('hex')}`;
}
