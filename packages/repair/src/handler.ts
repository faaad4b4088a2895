import { SQSClient } from '@aws-sdk/client-sqs';
import { parseFipsSettings, parseRepairSettings, toReplicationError } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { loadReplicationConfig, s3ObjectReader } from '@ecr-replicate/common/config-store';
import { sqsClientOptions } from '@ecr-replicate/common/queue';
import type { Context } from 'aws-lambda';
import type { RegistryClient } from '@ecr-replicate/oci';
import { sourceOfFunction } from './function-arn';
import { runScheduledRepair, type RepairSummary } from './scheduled-repair';

/**
 * Scheduled Lambda (an EventBridge schedule): the start of drift repair and
 * backfill. It lists this account's ECR registry in this region and sends one
 * scan unit per selected repository to the scan queue; the scan Lambda
 * (scan-handler.ts) compares them in parallel and queues a request per tag
 * that differs. A run that cannot start (settings, repository listing) throws,
 * so the invocation counts as an error; a unit that could not be sent is
 * logged and counted (`RepairFailures`), and the next run tries again.
 */
const obs = observability('repair');
const settings = parseRepairSettings(process.env);
const fips = parseFipsSettings(process.env);
const sqs = new SQSClient(sqsClientOptions());
const readObject = s3ObjectReader();

export { sourceOfFunction };

export const handler = lambdaHandler(obs, async (_event: unknown, context: Context): Promise<RepairSummary> => {
  const clients: RegistryClient[] = [];
  try {
    // The configuration from the deployment's store: read on the first run of the container, then kept.
    return await runScheduledRepair({
      settings: { ...settings, replicationConfig: await loadReplicationConfig(readObject) },
      fips,
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
