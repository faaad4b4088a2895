import {
  parseWorkerGuardSettings,
  parseWorkerSettings,
  toReplicationError,
  type Environment,
} from '@ecr-replicate/common';
import { loadReplicationConfig, s3ObjectReader } from '@ecr-replicate/common/config-store';
import { JobStore, createJobTableClient } from '@ecr-replicate/common/state';
import { createLogger, createMetrics } from '@ecr-replicate/common/observability';
import type { RegistryClient } from '@ecr-replicate/oci';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import { runWorkerJobs } from './worker';

/**
 * The worker CodeBuild runs: `node worker.js`. Everything it needs comes
 * from its environment (plain variables of the project and the dispatcher's
 * overrides: job keys and lease owner; never a secret value). Exits 0 when
 * every job was recorded, 1 when some are left for the build-state handler to
 * retry or the worker could not start.
 */
export async function main(env: Environment = process.env): Promise<number> {
  const logger = createLogger('worker');
  const metrics = createMetrics('worker', logger);
  const clients: RegistryClient[] = [];
  try {
    // The configuration from the deployment's store (REPLICATION_CONFIG only in local runs), checked by its hash.
    const settings = {
      ...parseWorkerSettings(env),
      replicationConfig: await loadReplicationConfig(s3ObjectReader(), env),
    };
    const guard = parseWorkerGuardSettings(env);
    logger.appendKeys({ leaseOwner: settings.leaseOwner });
    const secret = await loadDestinationSecret(settings.destSecretId);
    const store = new JobStore(createJobTableClient(), settings.jobTable);
    const buildId = env.CODEBUILD_BUILD_ID;
    const summary = await runWorkerJobs({
      settings,
      secret,
      store,
      logger,
      metrics,
      clients,
      guard,
      ...(buildId === undefined || buildId === '' ? {} : { buildId }),
    });
    logger.info('worker done', { ...summary });
    return summary.retry.length === 0 ? 0 : 1;
  } catch (error) {
    logger.error('worker could not run its jobs', { error: toReplicationError(error).toJSON() });
    return 1;
  } finally {
    metrics.publishStoredMetrics();
    await Promise.all(clients.map((c) => c.close()));
  }
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = 1;
    },
  );
}
