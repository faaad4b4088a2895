import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApiQuotas, PacedApi } from '../quotas';
import { buildUpdate, type UpdateSpec } from './expressions';

/**
 * The destination's request quotas as one budget that every worker draws from (CodeBuild builds and copy Lambdas, in
 * any number of processes), kept in the job table: one item per destination registry and API, keyed
 * `#pace|<registry>|<api>` (a job key always starts with a repository name, never with `#`; the job listings skip
 * these items).
 *
 * Pacing is a schedule, not a race: the item holds `paceNextAt`, the earliest time (epoch ms) the next call may be
 * sent. A draw is one conditional write that takes the next slot and moves `paceNextAt` on by one interval
 * (1 / rate): when the schedule is idle (`paceNextAt` ≤ now) the slot is now, otherwise it is the old `paceNextAt`,
 * and the caller waits until then. Workers thus queue fairly at the quota instead of running into throttling; no
 * write reads first, so concurrent draws never conflict (each of the two writes' conditions excludes the other's).
 *
 * For APIs with high quotas a draw takes a block of slots (`blockSeconds` of the rate, at least one), used by this
 * process in order, so that the table sees at most about 1 / blockSeconds (10) writes per second per worker and API;
 * slots of a block not used in time are lost (a worker never gets ahead of the schedule).
 *
 * A throttled answer (429, ThrottlingException) means the quota is lower than configured, or other clients use it:
 * the first report within `throttleWindowMs` halves the rate for everyone (down to `minFactor` of the quota), and
 * pushes the schedule `penaltyMs` past now; the rate then recovers linearly to the quota over `recoveryMs`. Workers
 * learn the reduced rate from the item with each draw.
 *
 * The clocks of the workers are compared with each other here (epoch ms of hosts kept in sync by NTP, as lease
 * expiries are); a skew of a few milliseconds only shifts slots by as much. A table that fails is never a reason to
 * fail a copy: the draw then paces this process alone at the quota, and tries the table again at the next draw.
 */

export interface PacingBudgetOptions {
  /** Seconds of an API's rate one draw takes (default 0.1: one slot for PutImage's 10/s, 100 for 1,000/s). */
  blockSeconds?: number;
  /** The lowest share of the quota throttling may slow the rate to (default 0.1). */
  minFactor?: number;
  /** Time for the rate to recover from the lowest factor to the full quota (default 20,000 ms: from half in 11 s). */
  recoveryMs?: number;
  /** Reports of throttling within this window after the first count once (default 1,000 ms). */
  throttleWindowMs?: number;
  /** How far past now the schedule moves when throttling is reported (default 1,000 ms). */
  penaltyMs?: number;
  /** Idle items expire this long after their last write (DynamoDB TTL; default one day). */
  idleTtlSeconds?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told when the table failed a write (the draw went on, paced locally). */
  onTableError?: (error: unknown) => void;
}

/** What a draw learnt of the shared state (for tests and reports). */
export interface PacingStats {
  /** Draws written to the table. */
  draws: number;
  /** Milliseconds spent waiting for slots. */
  waitedMs: number;
  /** Throttling reports that slowed the budget down (first within their window). */
  slowdowns: number;
  /** Throttling reports counted into one already made. */
  throttles: number;
  tableErrors: number;
}

interface ApiState {
  /** The block of slots held: the next slot's time, the slots left, and their spacing. */
  next: number;
  remaining: number;
  spacing: number;
  /** When the block's draw returned. */
  drawnAt: number;
  /** The shared rate factor, as last seen, and when it was last lowered. */
  factor: number;
  throttledAt: number;
}

const ITEM_KEY_ATTRIBUTE = 'jobKey';
/** The prefix of pacing items' keys in the job table. */
export const PACING_KEY_PREFIX = '#pace|';

export function pacingKeyOf(scope: string, api: PacedApi): string {
  return `${PACING_KEY_PREFIX}${scope}|${api}`;
}

/** Whether a job-table item is a pacing item (not a job record). */
export function isPacingItem(item: Record<string, unknown>): boolean {
  const key = item[ITEM_KEY_ATTRIBUTE];
  return typeof key === 'string' && key.startsWith(PACING_KEY_PREFIX);
}

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

export class PacingBudget {
  readonly stats: PacingStats = { draws: 0, waitedMs: 0, slowdowns: 0, throttles: 0, tableErrors: 0 };
  private readonly states = new Map<PacedApi, ApiState>();
  /** Draws in flight per API: callers of one process share a draw instead of each writing. */
  private readonly drawing = new Map<PacedApi, Promise<void>>();
  private readonly blockSeconds: number;
  private readonly minFactor: number;
  private readonly recoveryMs: number;
  private readonly throttleWindowMs: number;
  private readonly penaltyMs: number;
  private readonly idleTtlSeconds: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  /**
   * @param scope the destination registry whose quotas these are (account and region: its host)
   * @param quotas requests per second of each API
   */
  constructor(
    private readonly client: DynamoDBDocumentClient,
    readonly tableName: string,
    readonly scope: string,
    readonly quotas: ApiQuotas,
    private readonly options: PacingBudgetOptions = {},
  ) {
    this.blockSeconds = options.blockSeconds ?? 0.1;
    this.minFactor = options.minFactor ?? 0.1;
    this.recoveryMs = options.recoveryMs ?? 20_000;
    this.throttleWindowMs = options.throttleWindowMs ?? 1_000;
    this.penaltyMs = options.penaltyMs ?? 1_000;
    this.idleTtlSeconds = options.idleTtlSeconds ?? 86_400;
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The share of the quota in force now: lowered by throttling, recovering linearly. */
  factor(api: PacedApi): number {
    const state = this.states.get(api);
    if (state === undefined) return 1;
    return Math.min(1, state.factor + ((this.now() - state.throttledAt) / this.recoveryMs) * (1 - this.minFactor));
  }

  /** Milliseconds between two calls of `api` at the rate in force now. */
  private interval(api: PacedApi): number {
    return 1000 / (this.quotas[api] * this.factor(api));
  }

  /** Waits for the next slot of `api`. Never throws. */
  async take(api: PacedApi): Promise<void> {
    for (;;) {
      const state = this.stateOf(api);
      const now = this.now();
      // Slots of a block this process has held for over a second and whose time went by unused are lost (a slot used
      // late never raises the rate; one kept for long would add to a burst). A block just drawn is used whole, however
      // slow the draw was: its slots may all be past already on a busy table.
      while (state.remaining > 0 && now - state.drawnAt > 1_000 && state.next + state.spacing < now) {
        state.next += state.spacing;
        state.remaining -= 1;
      }
      if (state.remaining > 0) {
        const slot = state.next;
        state.next += state.spacing;
        state.remaining -= 1;
        const wait = slot - now;
        if (wait > 0) {
          this.stats.waitedMs += wait;
          await this.sleep(wait);
        }
        return;
      }
      let drawing = this.drawing.get(api);
      if (drawing === undefined) {
        drawing = this.draw(api, state).finally(() => this.drawing.delete(api));
        this.drawing.set(api, drawing);
      }
      await drawing;
    }
  }

  /** Takes a block of slots from the table (or, when it fails, from this process's own schedule). */
  private async draw(api: PacedApi, state: ApiState): Promise<void> {
    const interval = this.interval(api);
    const slots = Math.max(1, Math.floor(this.quotas[api] * this.factor(api) * this.blockSeconds));
    const span = Math.round(slots * interval * 1000) / 1000;
    const now = this.now();
    const key = pacingKeyOf(this.scope, api);
    const expiresAt = Math.floor(now / 1000) + this.idleTtlSeconds;
    try {
      for (let round = 0; round < 4; round += 1) {
        // The schedule is idle: the block starts now.
        const idle = await this.write(key, {
          set: { paceNextAt: now + span, expiresAt },
          condition: 'attribute_not_exists(#paceNextAt) OR #paceNextAt <= :now',
          values: { now },
        });
        if (idle) {
          this.absorb(api, idle);
          this.stats.draws += 1;
          Object.assign(state, { next: now, remaining: slots, spacing: interval, drawnAt: this.now() });
          return;
        }
        // The schedule runs ahead: the block starts where it stands.
        const queued = await this.write(key, {
          set: { expiresAt },
          setExpressions: ['#paceNextAt = #paceNextAt + :span'],
          condition: '#paceNextAt > :now',
          values: { now, span },
        });
        if (queued) {
          this.absorb(api, queued);
          this.stats.draws += 1;
          Object.assign(state, {
            next: Number(queued.paceNextAt) - span,
            remaining: slots,
            spacing: interval,
            drawnAt: this.now(),
          });
          return;
        }
      }
      throw new Error('the pacing item kept changing');
    } catch (error) {
      this.stats.tableErrors += 1;
      this.options.onTableError?.(error);
      Object.assign(state, {
        next: Math.max(now, state.next),
        remaining: slots,
        spacing: interval,
        drawnAt: this.now(),
      });
    }
  }

  /** Learns the shared rate factor from an item written. */
  private absorb(api: PacedApi, item: Record<string, unknown>): void {
    const state = this.stateOf(api);
    const factor = Number(item.paceFactor);
    const throttledAt = Number(item.paceThrottledAt);
    if (Number.isFinite(factor) && Number.isFinite(throttledAt) && factor > 0) {
      state.factor = factor;
      state.throttledAt = throttledAt;
    }
  }

  /**
   * The registry throttled a call of `api`: the first report within the window lowers the shared rate (half of the
   * rate in force, at least `minFactor`) and moves the schedule past now; later ones in the window only count.
   * Never throws.
   */
  async throttled(api: PacedApi): Promise<void> {
    const state = this.stateOf(api);
    const now = this.now();
    const factor = Math.max(this.minFactor, this.factor(api) / 2);
    const pushed = now + this.penaltyMs;
    const key = pacingKeyOf(this.scope, api);
    const firstInWindow = 'attribute_not_exists(#paceThrottledAt) OR #paceThrottledAt <= :windowStart';
    const set = {
      paceFactor: factor,
      paceThrottledAt: now,
      expiresAt: Math.floor(now / 1000) + this.idleTtlSeconds,
    };
    const values = { windowStart: now - this.throttleWindowMs };
    // This process's block is given up: its slots were at the rate the registry refused.
    state.remaining = 0;
    try {
      const written =
        (await this.write(key, {
          set: { ...set, paceNextAt: pushed },
          setExpressions: ['#paceThrottles = if_not_exists(#paceThrottles, :zero) + :one'],
          condition: `(${firstInWindow}) AND (attribute_not_exists(#paceNextAt) OR #paceNextAt < :pushed)`,
          values: { ...values, pushed, zero: 0, one: 1 },
        })) ??
        (await this.write(key, {
          set,
          setExpressions: ['#paceThrottles = if_not_exists(#paceThrottles, :zero) + :one'],
          condition: firstInWindow,
          values: { ...values, zero: 0, one: 1 },
        }));
      if (written) {
        this.absorb(api, written);
        this.stats.slowdowns += 1;
      } else {
        // Another worker reported this burst already: keep to the lowered rate until the next draw tells it exactly.
        this.stats.throttles += 1;
        state.factor = factor;
        state.throttledAt = now;
      }
    } catch (error) {
      this.stats.tableErrors += 1;
      this.options.onTableError?.(error);
      state.factor = factor;
      state.throttledAt = now;
    }
  }

  private stateOf(api: PacedApi): ApiState {
    let state = this.states.get(api);
    if (state === undefined) {
      state = { next: 0, remaining: 0, spacing: 0, drawnAt: 0, factor: 1, throttledAt: 0 };
      this.states.set(api, state);
    }
    return state;
  }

  /** A conditional update; the item after it, or undefined when the condition did not hold. */
  private async write(key: string, spec: UpdateSpec): Promise<Record<string, unknown> | undefined> {
    try {
      const output = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [ITEM_KEY_ATTRIBUTE]: key },
          ReturnValues: 'ALL_NEW',
          ...buildUpdate(spec),
        }),
      );
      return output.Attributes;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }
}
