import type { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, type Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSClient } from '@aws-sdk/client-sqs';
import {
  describeDestinationSecret,
  parseScanUnitJson,
  toReplicationError,
  type DestinationSecret,
  type FipsSettings,
  type ScanSettings,
} from '@ecr-replicate/common';
import type { RegistryClient } from '@ecr-replicate/oci';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { SourceRegistryIdentity } from './enqueue';
import { scanRegistries } from './scheduled-repair';
import { runScanUnit } from './scan-unit';

export interface ScanBatchDependencies {
  settings: ScanSettings;
  /** Loaded once per batch, when the batch has a unit to run. */
  loadSecret: () => Promise<DestinationSecret>;
  /** The source registry: the function's own account and region. */
  source: SourceRegistryIdentity;
  sqs: SQSClient;
  logger: Logger;
  metrics: Metrics;
  /** Every registry client created is added here, for the caller to close. */
  clients: RegistryClient[];
  fips?: FipsSettings;
  /** What the invocation has left (Lambda's context). */
  remainingMs: () => number;
  now?: () => Date;
}

/**
 * The scan Lambda's batch (the scan queue's event source): runs each unit (scan-unit.ts) and reports the units that
 * failed as batch item failures, so only they are delivered again (then kept in the scan dead-letter queue). A unit
 * that is not valid JSON of the schema fails the same way and is kept there for a look. Metrics: `ScanUnits`,
 * `ScanContinuations`, `ScanPagesQueued`, `DriftDetected`, `RequestsQueued`, `RepairFailures` (tags that could not be
 * compared, and units that failed).
 */
export async function handleScanBatch(event: SQSEvent, deps: ScanBatchDependencies): Promise<SQSBatchResponse> {
  const { logger, metrics, settings } = deps;
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  let registries: { source: RegistryClient; destination: RegistryClient } | undefined;
  let unitsRun = 0;
  let continuations = 0;
  let pages = 0;
  let drift = 0;
  let queued = 0;
  let failed = 0;
  for (const record of event.Records) {
    try {
      const unit = parseScanUnitJson(record.body);
      if (registries === undefined) {
        const secret = await deps.loadSecret();
        const opened = scanRegistries(settings, secret, deps.source, deps.fips, deps.clients);
        logger.info('scan registries', {
          source: opened.sourceHost,
          destination: opened.destinationHost,
          secret: describeDestinationSecret(secret),
        });
        registries = opened;
      }
      const result = await runScanUnit(unit, {
        ...registries,
        config: settings.replicationConfig,
        sourceIdentity: deps.source,
        sqs: deps.sqs,
        requestQueueUrl: settings.requestQueueUrl,
        scanQueueUrl: settings.scanQueueUrl,
        concurrency: settings.repairConcurrency,
        pageTags: settings.scanPageTags,
        remainingMs: deps.remainingMs,
        ...(deps.now ? { now: deps.now } : {}),
      });
      unitsRun += 1;
      if (result.outcome === 'continued') continuations += 1;
      pages += result.pagesQueued;
      drift += result.drift.length;
      queued += result.queued;
      failed += result.failures.length;
      for (const entry of result.drift) logger.info('drift', { scanId: unit.scanId, ...entry });
      for (const failure of result.failures) logger.warn('scan could not compare', { scanId: unit.scanId, ...failure });
      const { drift: _entries, failures: _failures, ...summary } = result;
      logger.info('scan unit done', {
        scanId: unit.scanId,
        part: unit.part,
        ...(unit.after !== undefined ? { after: unit.after } : {}),
        ...(unit.until !== undefined ? { until: unit.until } : {}),
        ...summary,
        drift: result.drift.length,
        failed: result.failures.length,
      });
    } catch (error) {
      failed += 1;
      failures.push({ itemIdentifier: record.messageId });
      logger.error('scan unit failed', {
        messageId: record.messageId,
        receiveCount: record.attributes.ApproximateReceiveCount,
        error: toReplicationError(error).toJSON(),
      });
    }
  }
  metrics.addMetric('ScanUnits', MetricUnit.Count, unitsRun);
  metrics.addMetric('ScanContinuations', MetricUnit.Count, continuations);
  metrics.addMetric('ScanPagesQueued', MetricUnit.Count, pages);
  metrics.addMetric('DriftDetected', MetricUnit.Count, drift);
  metrics.addMetric('RequestsQueued', MetricUnit.Count, queued);
  metrics.addMetric('RepairFailures', MetricUnit.Count, failed);
  return { batchItemFailures: failures };
}
