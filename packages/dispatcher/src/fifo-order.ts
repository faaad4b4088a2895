import type { SQSBatchItemFailure, SQSRecord } from 'aws-lambda';

/**
 * The partial-batch response of a FIFO batch under the FIFO rule: once a
 * message of a group fails, every later message of that group in the batch
 * fails too (they must not be processed before it). Other groups are not
 * affected. Records without a group id count as one group each.
 */
export function fifoBatchItemFailures(
  records: readonly SQSRecord[],
  failedMessageIds: ReadonlySet<string>,
): SQSBatchItemFailure[] {
  const failedGroups = new Set<string>();
  const failures: SQSBatchItemFailure[] = [];
  for (const record of records) {
    const group = record.attributes.MessageGroupId;
    const failed = failedMessageIds.has(record.messageId) || (group !== undefined && failedGroups.has(group));
    if (!failed) continue;
    if (group !== undefined) failedGroups.add(group);
    failures.push({ itemIdentifier: record.messageId });
  }
  return failures;
}
