import { CodeBuildClient } from '@aws-sdk/client-codebuild';
import {
  parseCopyInvocation,
  parseCopyLambdaSettings,
  parseWorkerGuardSettings,
  type DestinationSecret,
} from '@ecr-replicate/common';
import { loadReplicationConfig, s3ObjectReader } from '@ecr-replicate/common/config-store';
import { lambdaHandler, observability } from '@ecr-replicate/common/observability';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import type { RegistryClient } from '@ecr-replicate/oci';
import type { Context } from 'aws-lambda';
import { INVOCATION_ID_PREFIX } from './claim';
import { runCopyInvocation } from './copy';

/**
 * The copy Lambda, invoked asynchronously by the dispatcher with leased jobs (a failed invocation is retried by Lambda,
 * then goes to the on-failure destination; its leases run out and the sweeper re-queues the jobs). Settings and
 * clients are made once per container; the destination secret is read again after five minutes (a rotated key is
 * picked up); registry clients live for one invocation.
 */
const obs = observability('copy-lambda', 'copy');
const settings = parseCopyLambdaSettings(process.env);
const guard = parseWorkerGuardSettings(process.env);
const store = new JobStore(createJobTableClient(), settings.jobTable);
const codebuild = new CodeBuildClient({});
const readObject = s3ObjectReader();
const SECRET_TTL_MS = 5 * 60_000;
let secret: { value: DestinationSecret; readAt: number } | undefined;

async function destinationSecret(): Promise<DestinationSecret> {
  if (secret === undefined || Date.now() - secret.readAt > SECRET_TTL_MS)
    secret = { value: await loadDestinationSecret(settings.destSecretId), readAt: Date.now() };
  return secret.value;
}

export const handler = lambdaHandler(obs, async (event: unknown, context: Context) => {
  const invocation = parseCopyInvocation(event);
  const clients: RegistryClient[] = [];
  try {
    return await runCopyInvocation(invocation, {
      settings: { ...settings, replicationConfig: await loadReplicationConfig(readObject) },
      secret: await destinationSecret(),
      store,
      codebuild,
      clients,
      guard,
      invocationId: `${INVOCATION_ID_PREFIX}${context.awsRequestId}`,
      remainingMs: () => context.getRemainingTimeInMillis(),
      ...obs,
    });
  } finally {
    await Promise.all(clients.map((client) => client.close()));
  }
});
