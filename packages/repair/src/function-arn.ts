import { ErrorCode, ReplicationError } from '@ecr-replicate/common';
import type { SourceRegistryIdentity } from './enqueue';

/** The account and region of a repair Lambda's own ARN: the source registry it scans. */
export function sourceOfFunction(functionArn: string): SourceRegistryIdentity {
  const match = /^arn:[a-z-]+:lambda:([a-z0-9-]+):(\d{12}):function:/.exec(functionArn);
  if (!match)
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `cannot read the account and region of function ARN "${functionArn}"`,
    );
  return { region: match[1] as string, accountId: match[2] as string };
}
