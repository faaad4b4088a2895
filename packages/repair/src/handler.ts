import { SQSClient } from '@aws-sdk/client-sqs';
import {
  ErrorCode,
  ReplicationError,
  parseFipsSettings,
  parseRepairSettings,
  toReplicationError,
} from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { loadReplicationConfig, s3ObjectReader } from '@ecr-replicate/common/config-store';
import { sqsClientOptions } from '@ecr-replicate/common/queue';
import type { Context } from 'aws-lambda';
import type { RegistryClient } from '@ecr-replicate/oci';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import type { SourceRegistryIdentity } from './enqueue';
import { runScheduledRepair, type RepairSummary } from './scheduled-repair';

/**
 * Scheduled Lambda (an EventBridge schedule): drift repair and backfill. It
 * compares this account's ECR registry in this region with the destination
 * and queues a replication request per tag that differs; the workers copy.
 * Settings and clients are made once per container. A run that cannot start
 * (settings, secret, repository listing) throws, so the invocation counts as
 * an error; a tag that could not be compared or queued is logged and counted
 * (`RepairFailures`), and the next run tries again.
 */
const obs = observability('repair');
const settings = parseRepairSettings(process.env);
const fips = parseFipsSettings(process.env);
const sqs = new SQSClient(sqsClientOptions());
const readObject = s3ObjectReader();

/** The account and region of the function's own ARN: the source registry. */
export function sourceOfFunction(functionArn: string): SourceRegistryIdentity {
  const match = /^arn:[a-z-]+:lambda:([a-z0-9-]+):(\d{12}):function:/.exec(functionArn);
  if (!match)
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `cannot read the account and region of function ARN "${functionArn}"`,
    );
  return { region: match[1] as string, accountId: match[2] as string };
}

export const handler = lambdaHandler(obs, async (_event: unknown, context: Context): Promise<RepairSummary> => {
  const clients: RegistryClient[] = [];
  try {
    const secret = await loadDestinationSecret(settings.destSecretId);
    // The configuration from the deployment's store: read on the first run of the container, then kept.
    return await runScheduledRepair({
      settings: { ...settings, replicationConfig: await loadReplicationConfig(readObject) },
      fips,
      secret,
      source: sourceOfFunction(context.invokedFunctionArn),
      sqs,
      ...obs,
      clients,
    });
  } catch (error) {
    obs.logger.error('repair failed', { error: toReplicationError(error).toJSON() });
    throw error;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});
