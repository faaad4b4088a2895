import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ErrorCode, ReplicationError } from '../errors';
import { safeText } from '../masking';
import type { Executor } from '../models/copy-invocation';
import { JobRecordSchema, type JobError, type JobRecord, type JobStatus } from '../models/job';
import { jobKeyOf, originOf, type ReplicationRequest, type RequestOrigin } from '../models/request';
import { parseWith } from '../validation';
import { attributeNamesOf, attributeValuesOf, buildUpdate, type UpdateSpec } from './expressions';
import { JOB_TABLE_REPOSITORY_INDEX } from './job-table';
import { PacingBudget, isPacingItem, type PacingBudgetOptions } from './pacing-budget';
import type { ApiQuotas } from '../quotas';

/**
 * The job table: one record per job key (`<destination repository>:<tag>`, or
 * `<repository>@<digest>` for tagless actions), partition key `jobKey`.
 *
 * Who writes what, and the record's life:
 *
 *   dispatcher  recordRequest   keeps the newest ECR event (PENDING when idle); other origins only ask for a run
 *   dispatcher  acquireLease    PENDING/COMPLETE/FAILED → IN_PROGRESS (leased, epoch + 1), or marks a job dirty
 *                               whose lease a started build holds
 *   dispatcher  setLeaseBuild   StartBuild answered: the lease records its build (only then does it cover requests)
 *   worker      renewLease      heart-beat while it copies (the first one records the build too)
 *   worker      fenceLease      right before each destination tag move or delete: proves owner and epoch
 *   copy Lambda handOffLease    hands a job to a worker build, lease kept: epoch + 1 (the Lambda's hold ends), no build
 *   worker      finish          dirty? → 'again' (lease kept, startedAt moved); else COMPLETE/FAILED, lease released
 *   build-state releaseForRetry the build died: IN_PROGRESS → PENDING (retry) or FAILED (max attempts)
 *   dispatcher  releaseLease    StartBuild failed: IN_PROGRESS → PENDING, no attempt counted
 *
 * Every write is conditional. Invariant: a lease (`leaseOwner`) exists exactly
 * when the status is IN_PROGRESS. Times are epoch milliseconds, except
 * `expiresAt` (DynamoDB TTL, epoch seconds), which finished records carry and
 * which any new request or lease removes. Only ECR events' times are compared
 * with each other; host clocks only stamp `requestedAt`/`startedAt` (the
 * dispatcher's) and lease expiries.
 *
 * The worker never trusts a request's digest (it reads the source), so the
 * record's request fields say what happened last, and `requestedAt` vs
 * `startedAt` says whether a run has begun since.
 */

/**
 * `recorded`: the request is the job's newest ECR event (or its first request). `requested`: a request of another
 * origin (sync, repair, retry, sweep) asked for a run without touching the event fields. `stale`: an older or identical
 * ECR event; nothing changed.
 */
export type RecordRequestOutcome = 'recorded' | 'requested' | 'stale';

export interface RecordRequestResult {
  outcome: RecordRequestOutcome;
  /** The record after the call. */
  record: JobRecord;
}

/** `acquired`: the caller holds the lease now. `held`: another owner holds it; the job was marked dirty. */
export type AcquireLeaseOutcome = 'acquired' | 'held';

/**
 * `again`: a newer request arrived meanwhile; the lease is kept, reconcile once more. `done`: recorded and released.
 */
export type FinishOutcome = 'again' | 'done';

/** What a worker records for a job it reconciled. */
export type JobOutcome =
  | {
      status: 'COMPLETE';
      /** What the destination tag points at now; omit after a delete. */
      replicatedDigest?: string;
      bytesCopied: number;
      durationSeconds: number;
      /** Who ran it: the copy Lambda or a worker build. */
      executor?: Executor;
    }
  | {
      /** A failure not worth retrying (immutable tag conflict, invalid content...). Counts one attempt. */
      status: 'FAILED';
      error: JobError;
      durationSeconds?: number;
      executor?: Executor;
    };

export type ReleaseForRetryResult =
  | { outcome: 'retry'; record: JobRecord }
  | { outcome: 'failed'; record: JobRecord }
  | { outcome: 'not-owner' };

export interface JobStoreOptions {
  /** How long finished (COMPLETE or FAILED) records live, in seconds. Default 30 days. */
  finishedRecordTtlSeconds?: number;
}

export interface ListJobsOptions {
  /** Only records with this status. */
  status?: JobStatus;
  /** Items DynamoDB examines per page (before the status filter). */
  pageSize?: number;
}

export interface JobPage {
  records: JobRecord[];
  /** Pass to the next `listPage` call; absent on the last page. */
  cursor?: string;
}

export const DEFAULT_FINISHED_RECORD_TTL_SECONDS = 30 * 24 * 60 * 60;

/** Conditional writes that lost a race are re-read and retried this many times. */
const MAX_CONFLICT_ROUNDS = 8;

/**
 * A document client for the job table: `undefined` fields are left out of the
 * item rather than rejected.
 */
export function createJobTableClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
}

/** ISO times in one form (`YYYY-MM-DDTHH:mm:ss.sssZ`) so that string order is time order. */
export function normalizeEventTime(isoTime: string): string {
  const millis = Date.parse(isoTime);
  if (Number.isNaN(millis)) {
    throw new ReplicationError(ErrorCode.InvalidInput, `event time "${isoTime}" is not an ISO 8601 date-time`, {});
  }
  return new Date(millis).toISOString();
}

/**
 * Whether a request (event time and id) is newer than the one a record holds:
 * a later event time, or the same time and a greater event id. The same
 * request is not newer than itself.
 */
export function isNewerRequest(
  eventTime: string,
  eventId: string,
  record: Pick<JobRecord, 'lastEventTime' | 'lastEventId' | 'origin'>,
): boolean {
  // A record holding another origin's request has no ECR time to compare with: any ECR event is newer.
  if (record.origin !== undefined && record.origin !== 'ecr') return true;
  const time = normalizeEventTime(eventTime);
  const recorded = normalizeEventTime(record.lastEventTime);
  return time > recorded || (time === recorded && eventId > record.lastEventId);
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

export class JobStore {
  private readonly ttlSeconds: number;

  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
    options: JobStoreOptions = {},
  ) {
    this.ttlSeconds = options.finishedRecordTtlSeconds ?? DEFAULT_FINISHED_RECORD_TTL_SECONDS;
  }

  /**
   * Records a request, keeping only the newest one per job (by event time,
   * then event id). A new job starts PENDING with 0 attempts, not dirty. A
   * newer request replaces the request fields, resets `attempts` to 0 (new
   * content gets a new budget) and removes the TTL; an idle job (not
   * IN_PROGRESS) goes back to PENDING, a leased one stays leased. An older or
   * identical request (a redelivery) changes nothing and gives `stale`.
   */
  async recordRequest(request: ReplicationRequest, now: number): Promise<RecordRequestResult> {
    const jobKey = jobKeyOf(request);
    const eventTime = normalizeEventTime(request.eventTime);
    const origin = originOf(request);
    const fields = {
      sourceAccountId: request.source.accountId,
      sourceRegion: request.source.region,
      sourceRepository: request.source.repository,
      destinationRepository: request.destination.repository,
      action: request.action,
      desiredDigest: request.digest,
      lastEventId: request.eventId,
      lastEventTime: eventTime,
      origin: origin === 'ecr' ? undefined : origin,
    };
    const created = (): JobRecord => ({
      jobKey,
      ...fields,
      ...(origin === 'ecr' ? {} : { origin }),
      ...(request.tag === undefined ? {} : { tag: request.tag }),
      status: 'PENDING',
      dirty: false,
      attempts: 0,
      requestedAt: now,
      updatedAt: now,
    });
    if (origin !== 'ecr') return this.requestRun(jobKey, origin, created, now);

    // A record of another origin holds no ECR time: any ECR event replaces it.
    const newer =
      '((attribute_exists(#origin) AND #origin <> :ecr) OR #lastEventTime < :eventTime OR (#lastEventTime = :eventTime AND #lastEventId < :eventId))';
    const values = { eventTime, eventId: request.eventId, inProgress: 'IN_PROGRESS' satisfies JobStatus, ecr: 'ecr' };

    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round += 1) {
      const record = created();
      if (await this.tryCreate(record)) return { outcome: 'recorded', record };

      const idle = await this.tryUpdate(jobKey, 'record a request', {
        set: { ...fields, status: 'PENDING', attempts: 0, requestedAt: now, updatedAt: now, expiresAt: undefined },
        condition: `attribute_exists(#jobKey) AND ${newer} AND #status <> :inProgress`,
        values,
      });
      if (idle) return { outcome: 'recorded', record: idle };

      const leased = await this.tryUpdate(jobKey, 'record a request', {
        set: { ...fields, attempts: 0, requestedAt: now, updatedAt: now, expiresAt: undefined },
        condition: `attribute_exists(#jobKey) AND ${newer} AND #status = :inProgress`,
        values,
      });
      if (leased) return { outcome: 'recorded', record: leased };

      const current = await this.get(jobKey);
      if (current !== undefined && !isNewerRequest(eventTime, request.eventId, current)) {
        return { outcome: 'stale', record: current };
      }
      // The record vanished (TTL) or changed status between the writes: try again.
    }
    throw this.contention(jobKey, 'record a request');
  }

  /**
   * A request of another origin than ECR: it asks for one more run (which reads the source) and never replaces the
   * recorded event. `requestedAt` moves (so no run that started before it covers it); an idle job goes back to
   * PENDING. Sync and repair requests give a job a new attempt budget; retries and sweeps do not.
   */
  private async requestRun(
    jobKey: string,
    origin: RequestOrigin,
    created: () => JobRecord,
    now: number,
  ): Promise<RecordRequestResult> {
    const budget = origin === 'sync' || origin === 'repair' ? { attempts: 0 } : {};
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round += 1) {
      const record = created();
      if (await this.tryCreate(record)) return { outcome: 'requested', record };
      const idle = await this.tryUpdate(jobKey, 'record a request', {
        set: { status: 'PENDING', ...budget, requestedAt: now, updatedAt: now, expiresAt: undefined },
        condition: 'attribute_exists(#jobKey) AND #status <> :inProgress',
        values: { inProgress: 'IN_PROGRESS' satisfies JobStatus },
      });
      if (idle) return { outcome: 'requested', record: idle };
      const leased = await this.tryUpdate(jobKey, 'record a request', {
        set: { requestedAt: now, updatedAt: now },
        condition: 'attribute_exists(#jobKey) AND #status = :inProgress',
        values: { inProgress: 'IN_PROGRESS' satisfies JobStatus },
      });
      if (leased) return { outcome: 'requested', record: leased };
      // The record vanished or changed status between the writes: try again.
    }
    throw this.contention(jobKey, 'record a request');
  }

  /**
   * Takes the lease of a job for `owner` until `now + leaseMs` when nobody
   * holds it, the holder's lease expired, no build holds it (a dispatch whose
   * StartBuild failed or never came), or `owner` holds it already. Taking it
   * sets IN_PROGRESS, `startedAt`, a new `leaseEpoch`, clears `dirty` (the run
   * reads the newest state) and the build id, and removes the TTL. Of
   * concurrent callers exactly one acquires. When a started build of another
   * owner holds an unexpired lease, the job is marked dirty (that worker
   * reconciles once more before it lets go) and `held` returned. A worker
   * whose lease was taken over finds out at its next heart-beat or fence.
   * Throws NOT_FOUND when the job was never recorded.
   */
  async acquireLease(jobKey: string, owner: string, leaseMs: number, now: number): Promise<AcquireLeaseOutcome> {
    assertPositive(leaseMs, 'leaseMs');
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round += 1) {
      const acquired = await this.tryUpdate(jobKey, 'acquire the lease', {
        set: {
          leaseOwner: owner,
          leaseExpiresAt: now + leaseMs,
          status: 'IN_PROGRESS',
          startedAt: now,
          updatedAt: now,
          dirty: false,
          expiresAt: undefined,
          leaseBuildId: undefined,
          fencedAt: undefined,
        },
        setExpressions: ['#leaseEpoch = if_not_exists(#leaseEpoch, :zero) + :one'],
        condition:
          'attribute_exists(#jobKey) AND (attribute_not_exists(#leaseOwner) OR #leaseExpiresAt <= :now OR #leaseOwner = :owner OR attribute_not_exists(#leaseBuildId))',
        values: { now, owner, zero: 0, one: 1 },
      });
      if (acquired) return 'acquired';

      const marked = await this.tryUpdate(jobKey, 'mark the job dirty', {
        set: { dirty: true, updatedAt: now },
        condition:
          'attribute_exists(#leaseOwner) AND #leaseOwner <> :owner AND #leaseExpiresAt > :now AND attribute_exists(#leaseBuildId)',
        values: { now, owner },
      });
      if (marked) return 'held';

      if ((await this.get(jobKey)) === undefined) {
        throw new ReplicationError(
          ErrorCode.NotFound,
          `job "${jobKey}" has no record in table "${this.tableName}"; record a request first`,
          {
            details: { jobKey },
          },
        );
      }
      // The lease was released or expired between the two writes: try again.
    }
    throw this.contention(jobKey, 'acquire the lease');
  }

  /**
   * Records the build that holds `owner`'s lease (StartBuild answered). From then on the lease covers requests that
   * arrived before it was taken. False, changing nothing, when `owner` no longer holds it.
   */
  async setLeaseBuild(jobKey: string, owner: string, buildId: string, now: number): Promise<boolean> {
    const set = await this.tryUpdate(jobKey, 'record the lease build', {
      set: { leaseBuildId: buildId, updatedAt: now },
      condition: '#leaseOwner = :owner',
      values: { owner },
    });
    return set !== undefined;
  }

  /**
   * Extends `owner`'s lease to `now + leaseMs` and returns the record. With `epoch`, only that lease (not a later one
   * of the same owner); with `buildId`, the lease records the build that holds it. Throws LEASE_LOST when `owner` no
   * longer holds it.
   */
  async renewLease(
    jobKey: string,
    owner: string,
    leaseMs: number,
    now: number,
    options: { epoch?: number; buildId?: string } = {},
  ): Promise<JobRecord> {
    assertPositive(leaseMs, 'leaseMs');
    const renewed = await this.tryUpdate(jobKey, 'renew the lease', {
      set: {
        leaseExpiresAt: now + leaseMs,
        updatedAt: now,
        ...(options.buildId === undefined ? {} : { leaseBuildId: options.buildId }),
      },
      condition: options.epoch === undefined ? '#leaseOwner = :owner' : '#leaseOwner = :owner AND #leaseEpoch = :epoch',
      values: { owner, ...(options.epoch === undefined ? {} : { epoch: options.epoch }) },
    });
    if (!renewed) throw this.leaseLost(jobKey, owner);
    return renewed;
  }

  /**
   * The fence before a destination write: a conditional write that succeeds only while `owner` holds lease `epoch`
   * and it has not expired at `now`; it renews the lease to `now + leaseMs` and records `fencedAt`. Throws LEASE_LOST
   * otherwise (the caller must not write).
   */
  async fenceLease(jobKey: string, owner: string, epoch: number, leaseMs: number, now: number): Promise<JobRecord> {
    assertPositive(leaseMs, 'leaseMs');
    const fenced = await this.tryUpdate(jobKey, 'fence the lease', {
      set: { leaseExpiresAt: now + leaseMs, fencedAt: now, updatedAt: now },
      condition: '#leaseOwner = :owner AND #leaseEpoch = :epoch AND #leaseExpiresAt > :now',
      values: { owner, epoch, now },
    });
    if (!fenced) throw this.leaseLost(jobKey, owner);
    return fenced;
  }

  /**
   * The copy Lambda hands a job it holds (`owner`, lease `epoch`) to a worker build, lease kept: the owner stays, the
   * epoch moves on (the Lambda's hold can neither renew nor fence any more: it never writes again), the lease runs
   * `leaseMs` from `now`, and the build id is removed until the build that takes it over is started (until then the
   * lease covers nothing and a new request may take it, as after a dispatch whose StartBuild has not answered). False,
   * changing nothing, when `owner` no longer holds lease `epoch`.
   */
  async handOffLease(jobKey: string, owner: string, epoch: number, leaseMs: number, now: number): Promise<boolean> {
    assertPositive(leaseMs, 'leaseMs');
    const handed = await this.tryUpdate(jobKey, 'hand the job over', {
      set: { leaseExpiresAt: now + leaseMs, updatedAt: now, leaseBuildId: undefined, fencedAt: undefined },
      setExpressions: ['#leaseEpoch = #leaseEpoch + :one'],
      condition: '#leaseOwner = :owner AND #leaseEpoch = :epoch AND #leaseExpiresAt > :now',
      values: { owner, epoch, now, one: 1 },
    });
    return handed !== undefined;
  }

  /**
   * The worker's last word on a job it holds. When the job is dirty (a newer
   * request arrived during the run) the flag is cleared and `again` returned:
   * the lease is kept, `startedAt` moves to `now` (the next pass reads the
   * source after every request recorded so far) and the worker reconciles
   * once more. Otherwise the
   * outcome is recorded (COMPLETE: digest, bytes, duration, lastError
   * removed; FAILED: lastError, one more attempt), the lease released, the TTL
   * set and `done` returned. Throws LEASE_LOST when `owner` no longer holds
   * the lease.
   */
  async finish(jobKey: string, owner: string, outcome: JobOutcome, now: number): Promise<FinishOutcome> {
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round += 1) {
      const again = await this.tryUpdate(jobKey, 'finish the job', {
        set: { dirty: false, startedAt: now, updatedAt: now },
        condition: '#leaseOwner = :owner AND #dirty = :dirty',
        values: { owner, dirty: true },
      });
      if (again) return 'again';

      const recorded =
        outcome.status === 'COMPLETE'
          ? {
              replicatedDigest: outcome.replicatedDigest,
              bytesCopied: outcome.bytesCopied,
              durationSeconds: outcome.durationSeconds,
              lastError: undefined,
            }
          : {
              lastError: { code: outcome.error.code, message: safeText(outcome.error.message) },
              durationSeconds: outcome.durationSeconds,
            };
      const finished: UpdateSpec = {
        set: {
          status: outcome.status,
          ...recorded,
          executor: outcome.executor,
          completedAt: now,
          updatedAt: now,
          expiresAt: this.expiresAtFrom(now),
        },
        ...(outcome.status === 'FAILED' ? { setExpressions: ['#attempts = #attempts + :one'] } : {}),
        remove: ['leaseOwner', 'leaseExpiresAt', 'leaseBuildId'],
        condition: '#leaseOwner = :owner AND #dirty = :dirty',
        values: { owner, dirty: false, ...(outcome.status === 'FAILED' ? { one: 1 } : {}) },
      };
      if (await this.tryUpdate(jobKey, 'finish the job', finished)) return 'done';

      const current = await this.get(jobKey);
      if (current?.leaseOwner !== owner) throw this.leaseLost(jobKey, owner);
      // `dirty` flipped between the two writes: try again.
    }
    throw this.contention(jobKey, 'finish the job');
  }

  /**
   * For the build-state handler when a worker build died: if `owner` still
   * holds the lease, releases it, counts one attempt and records `error`.
   * Below `maxAttempts` the job goes back to PENDING (`retry`: re-queue it);
   * at `maxAttempts` it is given up (FAILED, TTL set: `failed`). When the
   * lease is not `owner`'s any more (the worker finished it, or another run
   * took over) nothing changes: `not-owner`. With `countAttempt: false` (the
   * build never ran: it timed out in CodeBuild's queue) no attempt is counted
   * and the job always goes back to PENDING.
   */
  async releaseForRetry(
    jobKey: string,
    owner: string,
    error: JobError,
    maxAttempts: number,
    now: number,
    options: { countAttempt?: boolean } = {},
  ): Promise<ReleaseForRetryResult> {
    assertPositive(maxAttempts, 'maxAttempts');
    for (let round = 0; round < MAX_CONFLICT_ROUNDS; round += 1) {
      const current = await this.get(jobKey);
      if (current?.leaseOwner !== owner) return { outcome: 'not-owner' };
      const attempts = current.attempts + (options.countAttempt === false ? 0 : 1);
      const givenUp = options.countAttempt !== false && attempts >= maxAttempts;
      const released = await this.tryUpdate(jobKey, 'release the job for a retry', {
        set: {
          status: givenUp ? 'FAILED' : 'PENDING',
          attempts,
          lastError: { code: error.code, message: safeText(error.message) },
          dirty: false,
          updatedAt: now,
          completedAt: givenUp ? now : current.completedAt,
          expiresAt: givenUp ? this.expiresAtFrom(now) : undefined,
        },
        remove: ['leaseOwner', 'leaseExpiresAt', 'leaseBuildId'],
        condition: '#leaseOwner = :owner AND #attempts = :attempts',
        values: { owner, attempts: current.attempts },
      });
      if (released) return { outcome: givenUp ? 'failed' : 'retry', record: released };
      // A newer request reset the attempts, or the lease changed hands: look again.
    }
    throw this.contention(jobKey, 'release the job for a retry');
  }

  /**
   * Gives back a lease without counting an attempt (the worker build could
   * not be started): IN_PROGRESS → PENDING. Returns false, changing nothing,
   * when `owner` does not hold the lease.
   */
  async releaseLease(jobKey: string, owner: string, now: number): Promise<boolean> {
    const released = await this.tryUpdate(jobKey, 'release the lease', {
      set: { status: 'PENDING', updatedAt: now },
      remove: ['leaseOwner', 'leaseExpiresAt', 'leaseBuildId'],
      condition: '#leaseOwner = :owner',
      values: { owner },
    });
    return released !== undefined;
  }

  /**
   * The destination's quota budget, kept in this table beside the jobs (pacing-budget.ts): every worker that draws
   * from the budget of one `scope` (the destination registry) shares it.
   */
  pacingBudget(scope: string, quotas: ApiQuotas, options: PacingBudgetOptions = {}): PacingBudget {
    return new PacingBudget(this.client, this.tableName, scope, quotas, options);
  }

  /**
   * The record of a job (strongly consistent read), or undefined. Throws INVALID_INPUT when the stored item is
   * malformed.
   */
  async get(jobKey: string): Promise<JobRecord | undefined> {
    let item: Record<string, unknown> | undefined;
    try {
      const output = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: { jobKey }, ConsistentRead: true }),
      );
      item = output.Item;
    } catch (error) {
      throw this.awsError('read', jobKey, error);
    }
    return item === undefined ? undefined : this.parseRecord(item);
  }

  /** One page of records (a Scan), optionally of one status. Pass the returned cursor to get the next page. */
  async listPage(options: ListJobsOptions & { cursor?: string } = {}): Promise<JobPage> {
    const filter =
      options.status === undefined
        ? {}
        : { FilterExpression: '#status = :status', ...this.filterPlaceholders(options.status) };
    const startKey = options.cursor === undefined ? {} : { ExclusiveStartKey: decodeCursor(options.cursor) };
    let output;
    try {
      output = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          ...filter,
          ...(options.pageSize === undefined ? {} : { Limit: options.pageSize }),
          ...startKey,
        }),
      );
    } catch (error) {
      throw this.awsError('scan', '*', error);
    }
    // The pacing budget's items share the table (pacing-budget.ts): they are not jobs.
    const records = (output.Items ?? []).filter((item) => !isPacingItem(item)).map((item) => this.parseRecord(item));
    return output.LastEvaluatedKey === undefined
      ? { records }
      : { records, cursor: encodeCursor(output.LastEvaluatedKey) };
  }

  /** Every record (all pages), optionally of one status, sorted by job key. */
  async list(options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const records: JobRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listPage({ ...options, ...(cursor === undefined ? {} : { cursor }) });
      records.push(...page.records);
      cursor = page.cursor;
    } while (cursor !== undefined);
    return records.sort((a, b) => (a.jobKey < b.jobKey ? -1 : a.jobKey > b.jobKey ? 1 : 0));
  }

  /**
   * Every record of one destination repository (a Query on the `byRepository` index, all pages), optionally of one
   * status, sorted by job key. A table deployed before the index existed has none: then a filtered Scan.
   */
  async listRepository(repository: string, options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const records: JobRecord[] = [];
    let startKey: Record<string, unknown> | undefined;
    try {
      do {
        const output = await this.client.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: JOB_TABLE_REPOSITORY_INDEX,
            KeyConditionExpression: '#destinationRepository = :repository',
            ExpressionAttributeNames: {
              ...attributeNamesOf('#destinationRepository'),
              ...(options.status !== undefined ? attributeNamesOf('#status') : {}),
            },
            ExpressionAttributeValues: {
              ...attributeValuesOf({ repository }),
              ...(options.status !== undefined ? attributeValuesOf({ status: options.status }) : {}),
            },
            ...(options.status !== undefined ? { FilterExpression: '#status = :status' } : {}),
            ...(startKey !== undefined ? { ExclusiveStartKey: startKey } : {}),
          }),
        );
        records.push(...(output.Items ?? []).map((item) => this.parseRecord(item)));
        startKey = output.LastEvaluatedKey;
      } while (startKey !== undefined);
    } catch (error) {
      const missingIndex =
        (error as { name?: string }).name === 'ValidationException' &&
        /index/i.test((error as { message?: string }).message ?? '');
      if (!missingIndex) throw this.awsError('query', repository, error);
      return (await this.list(options)).filter((r) => r.destinationRepository === repository);
    }
    return records.sort((a, b) => (a.jobKey < b.jobKey ? -1 : a.jobKey > b.jobKey ? 1 : 0));
  }

  private filterPlaceholders(status: JobStatus) {
    return {
      ExpressionAttributeNames: attributeNamesOf('#status'),
      ExpressionAttributeValues: attributeValuesOf({ status }),
    };
  }

  private expiresAtFrom(now: number): number {
    return Math.floor(now / 1000) + this.ttlSeconds;
  }

  private parseRecord(item: Record<string, unknown>): JobRecord {
    const key = typeof item.jobKey === 'string' ? item.jobKey : '(no key)';
    return parseWith(JobRecordSchema, item, `job record "${key}" in table "${this.tableName}"`, ErrorCode.InvalidInput);
  }

  /** Creates the record unless one exists; false when it does. */
  private async tryCreate(record: JobRecord): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: record,
          ConditionExpression: 'attribute_not_exists(#jobKey)',
          ExpressionAttributeNames: attributeNamesOf('#jobKey'),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw this.awsError('create', record.jobKey, error);
    }
  }

  /** A conditional update; the record after it, or undefined when the condition did not hold. */
  private async tryUpdate(jobKey: string, what: string, spec: UpdateSpec): Promise<JobRecord | undefined> {
    try {
      const output = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { jobKey },
          ReturnValues: 'ALL_NEW',
          ...buildUpdate(spec),
        }),
      );
      return output.Attributes === undefined ? undefined : this.parseRecord(output.Attributes);
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw this.awsError(what, jobKey, error);
    }
  }

  private leaseLost(jobKey: string, owner: string): ReplicationError {
    return new ReplicationError(ErrorCode.LeaseLost, `the lease on job "${jobKey}" is no longer held by "${owner}"`, {
      details: { jobKey, owner },
    });
  }

  private contention(jobKey: string, what: string): ReplicationError {
    return new ReplicationError(
      ErrorCode.AwsService,
      `could not ${what} for job "${jobKey}": the record kept changing (${MAX_CONFLICT_ROUNDS} rounds)`,
      { retryable: true, details: { jobKey } },
    );
  }

  private awsError(what: string, jobKey: string, error: unknown): ReplicationError {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new ReplicationError(
      ErrorCode.AwsService,
      `DynamoDB: could not ${what} for job "${jobKey}" in table "${this.tableName}": ${reason}`,
      {
        cause: error,
        details: { jobKey, table: this.tableName },
      },
    );
  }
}

function assertPositive(value: number, name: string): void {
  if (!Number.isFinite(value) || value <= 0) {
    throw new ReplicationError(ErrorCode.Internal, `${name} must be a positive number`);
  }
}

function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): Record<string, unknown> {
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (typeof key === 'object' && key !== null && typeof (key as Record<string, unknown>).jobKey === 'string') {
      return key as Record<string, unknown>;
    }
  } catch {
    // reported below
  }
  throw new ReplicationError(ErrorCode.InvalidInput, 'the job list cursor is not one returned by listPage', {});
}
