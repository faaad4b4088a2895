import { SQSClient } from '@aws-sdk/client-sqs';
import { parseFipsSettings, parseScanSettings } from '@ecr-replicate/common';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { loadReplicationConfig, s3ObjectReader } from '@ecr-replicate/common/config-store';
import { sqsClientOptions } from '@ecr-replicate/common/queue';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { RegistryClient } from '@ecr-replicate/oci';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import { sourceOfFunction } from './function-arn';
import { handleScanBatch } from './scan-batch';

/**
 * The scan Lambda, on the scan queue: each message is one unit of a fan-out scan (a repository, or a page of its
 * tags); see scan-unit.ts. Settings and the SQS client are made once per container; the destination secret and the
 * registry clients once per batch. Failed units are reported one by one (ReportBatchItemFailures).
 */
const obs = observability('repair', 'scan');
const settings = parseScanSettings(process.env);
const fips = parseFipsSettings(process.env);
const sqs = new SQSClient(sqsClientOptions());
const readObject = s3ObjectReader();

export const handler = lambdaHandler(obs, async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const clients: RegistryClient[] = [];
  try {
    return await handleScanBatch(event, {
      settings: { ...settings, replicationConfig: await loadReplicationConfig(readObject) },
      loadSecret: () => loadDestinationSecret(settings.destSecretId),
      source: sourceOfFunction(context.invokedFunctionArn),
      sqs,
      ...obs,
      clients,
      fips,
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
});
