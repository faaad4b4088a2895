import type { SQSClient } from '@aws-sdk/client-sqs';
import type { ReplicationConfig, ScanUnit } from '@ecr-replicate/common';
import { createLimiter } from '@ecr-replicate/oci';
import { selectRepositories, syncFailure, type RepositoryPair, type SyncFailure } from './plan';
import { newScanId, sendScanUnit } from './scan-queue';

export interface FanOutOptions {
  /** Every repository of the source registry (ECR DescribeRepositories or the catalog API). */
  listRepositories: () => Promise<string[]>;
  config: ReplicationConfig;
  sqs: SQSClient;
  scanQueueUrl: string;
  /** Who starts the scan: the scheduled repair or an operator's sync. */
  origin: ScanUnit['origin'];
  /** Messages sent at once (default 10). */
  concurrency?: number;
  now?: () => Date;
  /** Each unit as it is queued (or could not be). */
  onUnit?: (unit: ScanUnit, outcome: { messageId?: string; failure?: SyncFailure }) => void;
}

export interface FanOutResult {
  scanId: string;
  plannedAt: string;
  /** Selected source repositories (one unit each). */
  repositories: number;
  /** Units on the scan queue. */
  queued: number;
  /** Repositories left out (a mapping the configuration refuses) and units that could not be sent. */
  failures: SyncFailure[];
}

/**
 * The start of a fan-out scan: lists the source repositories, selects and maps them with the configuration (the
 * checks of a whole plan: a refused name or two repositories mapped onto one are failures, left out), and sends one
 * scan unit per repository to the scan queue. The scan Lambdas then compare the repositories in parallel, each
 * splitting a large repository into pages and continuing by message when it runs low on time. Only a failure to list
 * the repositories is thrown; a unit that cannot be sent is a failure and the others go on.
 */
export async function fanOutScan(options: FanOutOptions): Promise<FanOutResult> {
  const plannedAt = (options.now?.() ?? new Date()).toISOString();
  const scanId = newScanId(options.origin, plannedAt);
  const failures: SyncFailure[] = [];
  const pairs: RepositoryPair[] = selectRepositories(await options.listRepositories(), options.config, failures);
  const limit = createLimiter(options.concurrency ?? 10);
  let queued = 0;
  await Promise.all(
    pairs.map((pair) =>
      limit(async () => {
        const unit: ScanUnit = {
          version: 1,
          scanId,
          origin: options.origin,
          plannedAt,
          sourceRepository: pair.source,
          part: 0,
        };
        try {
          const messageId = await sendScanUnit(options.sqs, options.scanQueueUrl, unit);
          queued += 1;
          options.onUnit?.(unit, messageId !== undefined ? { messageId } : {});
        } catch (error) {
          const failure = syncFailure('enqueue', error, {
            sourceRepository: pair.source,
            destinationRepository: pair.destination,
          });
          failures.push(failure);
          options.onUnit?.(unit, { failure });
        }
      }),
    ),
  );
  return { scanId, plannedAt, repositories: pairs.length, queued, failures };
}
