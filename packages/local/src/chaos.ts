import { setTimeout as sleep } from 'node:timers/promises';
import {
  MediaTypes,
  bytesBlob,
  imageConfig,
  imageManifest,
  putManifest,
  pushBlob,
  registryRequest,
  seededBytes,
} from '@ecr-replicate/testing';
import type { DynamoFault } from './table-history';
import { startLocalRunner, type LocalRunner } from './runner';
import { waitFor } from './wait';

/**
 * A seeded chaos run on the local runner: pushes and deletes across many
 * tags, with faults injected at random into every DynamoDB call, SQS send
 * and delete, StartBuild and registry request, workers killed mid-run and
 * events delivered twice or late. When the faults stop, the pipeline must
 * converge with nothing lost: every destination tag equal to the source's,
 * every job settled, nothing in a dead-letter queue.
 *
 * The seed fixes the operations (which tag, push or delete, which event is
 * delivered again or late, when a worker is killed) and the fault draws; the
 * interleaving with the pipeline's own timing is not fixed, so a replay runs
 * the same scenario under the same fault rates rather than the same schedule.
 */

export interface ChaosOptions {
  seed: number;
  /** Pushes and deletes (default 1000). */
  operations?: number;
  /** Tags they spread over (default 100). */
  tags?: number;
  repositories?: number;
  /** Chance of a fault in each call (default 0.05). */
  faultRate?: number;
  /** Chance, per operation, that a running worker build is killed (default 0.01). */
  killRate?: number;
  /** Chance that an event is delivered once more, later (default 0.05). */
  redeliverRate?: number;
  /** Operations in flight at once (default 8). */
  concurrency?: number;
  /**
   * Multiplies the pipeline's clocks: leases, CodeBuild's queue timeout, SQS delays, the sweeper (default 0.05: a
   * 15-minute lease lasts 45 s). Below about 0.03 a busy two-core machine runs its builds and handlers slower than
   * the scaled clocks allow, and the run measures the machine rather than the pipeline.
   */
  timeScale?: number;
  /** Time allowed to go quiet, and again to converge, after the last operation (default 480 s each). */
  settleTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  operations: { pushes: number; deletes: number; redelivered: number; killed: number };
  faults: { dynamo: number; sqsSend: number; sqsDelete: number; startBuild: number; registry: number };
  builds: number;
  refusedByQueueLimit: number;
  seconds: { operations: number; settle: number };
  /** Tags whose destination differs from the source (empty when converged). */
  mismatches: string[];
  /** Jobs not settled (not COMPLETE, or still leased). */
  unsettled: string[];
  deadLetters: { requests: number; retries: number; events: number };
  /** Per Lambda function: invocations, failed ones, and timed-out ones among those (what sends work to a DLQ). */
  functions: ReturnType<LocalRunner['functionStats']>;
}

/** mulberry32: a small seeded generator (uniform in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MIRROR = (repository: string): string => `mirror/${repository}`;

/**
 * The run's own pushes and deletes at the source (what a user's client does, not the pipeline): a busy registry
 * can fail one, and a user's client tries again, so they are retried a few times before the run gives up.
 */
async function atTheSource(what: string, operation: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await operation();
      return;
    } catch (error) {
      if (attempt >= 5) throw new Error(`chaos: ${what} failed ${attempt} times at the source`, { cause: error });
      await sleep(200 * attempt);
    }
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const seed = options.seed >>> 0;
  const log = options.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const operations = options.operations ?? 1000;
  const tagCount = options.tags ?? 100;
  const repositories = options.repositories ?? 5;
  const faultRate = options.faultRate ?? 0.05;
  const killRate = options.killRate ?? 0.01;
  const redeliverRate = options.redeliverRate ?? 0.05;
  log(`chaos: seed=${seed} operations=${operations} tags=${tagCount} faultRate=${faultRate} (replay: --seed ${seed})`);

  const scenario = seededRandom(seed);
  const faultDraw = seededRandom(seed ^ 0x9e3779b9);
  const runner: LocalRunner = await startLocalRunner({
    config: { deletes: true, mapping: { prefixes: [{ from: 'chaos/', to: 'mirror/chaos/' }] } },
    timeScale: options.timeScale ?? 0.05,
    // Lambda gives every invocation a CPU of its own; here all the handlers, the registries' gates and the table's
    // proxy share one process on a machine the workers keep busy, so an invocation gets 30 s whatever the scale.
    lambdaMinTimeoutMs: 30_000,
    sweepEverySeconds: 120,
  });
  const faultCounts = { dynamo: 0, sqsSend: 0, sqsDelete: 0, startBuild: 0, registry: 0 };
  const counts = { pushes: 0, deletes: 0, redelivered: 0, killed: 0 };
  try {
    const chance = (): boolean => faultDraw() < faultRate;
    runner.faults.dynamo = (): DynamoFault | undefined => {
      if (!chance()) return undefined;
      faultCounts.dynamo += 1;
      return faultDraw() < 0.5 ? 'throttle' : 'error';
    };
    runner.faults.sqsSend = () => {
      if (!chance()) return undefined;
      faultCounts.sqsSend += 1;
      return faultDraw() < 0.5 ? 'RequestThrottled' : 'InternalError';
    };
    runner.faults.sqsDelete = () => {
      if (!chance()) return false;
      faultCounts.sqsDelete += 1;
      return true;
    };
    runner.faults.startBuild = () => {
      if (!chance()) return undefined;
      faultCounts.startBuild += 1;
      return Object.assign(new Error('Rate exceeded (injected)'), {
        name: faultDraw() < 0.5 ? 'ThrottlingException' : 'AccountLimitExceededException',
      });
    };
    runner.sourceGate.setFaultRate(faultRate, faultDraw);
    runner.destinationGate.setFaultRate(faultRate, faultDraw);

    const tags = Array.from({ length: tagCount }, (_, i) => ({
      repository: `chaos/r${i % repositories}`,
      tag: `t${String(i).padStart(3, '0')}`,
    }));
    // One shared layer per repository; each push is a new config (a new image), so a delete by digest removes one tag.
    const layer = bytesBlob(MediaTypes.dockerLayerGzip, seededBytes(`chaos-${seed}-layer`, 2048));
    for (let r = 0; r < repositories; r += 1) await pushBlob(runner.source, `chaos/r${r}`, layer);
    /** What each tag holds at the source now. */
    const atSource = new Map<number, string | undefined>();
    const locks = new Map<number, Promise<void>>();
    const late: Array<Parameters<LocalRunner['emit']>[0]> = [];

    const operate = async (n: number, index: number, roll: number, kill: boolean): Promise<void> => {
      const { repository, tag } = tags[index] as (typeof tags)[number];
      const current = atSource.get(index);
      let event: Parameters<LocalRunner['emit']>[0];
      if (current !== undefined && roll < 0.2) {
        let tries = 0;
        await atTheSource(`delete ${repository}:${tag}`, async () => {
          tries += 1;
          const deleted = await registryRequest(runner.source, 'DELETE', `/v2/${repository}/manifests/${current}`);
          // A failed answer may still have deleted it: then the next try finds it gone.
          if (deleted.status === 202 || (tries > 1 && deleted.status === 404)) return;
          throw new Error(`could not delete ${repository}:${tag} (${deleted.status})`);
        });
        atSource.set(index, undefined);
        counts.deletes += 1;
        event = runner.event({ action: 'DELETE', repository, tag, digest: current });
      } else {
        const config = imageConfig('docker', { os: 'linux', architecture: 'amd64' }, [layer], `chaos-${seed}-${n}`);
        const manifest = imageManifest('docker', config, [layer]);
        await atTheSource(`push ${repository}:${tag}`, async () => {
          await pushBlob(runner.source, repository, config);
          await putManifest(runner.source, repository, tag, manifest);
        });
        atSource.set(index, manifest.digest);
        counts.pushes += 1;
        event = runner.event({
          action: 'PUSH',
          repository,
          tag,
          digest: manifest.digest,
          mediaType: manifest.mediaType,
        });
      }
      await runner.emit(event);
      if (roll > 1 - redeliverRate) late.push(event);
      // Pushes arrive over time, not all at once: builds run between them.
      await sleep(Math.floor(roll * 40));
      if (kill) {
        const running = runner.codebuild.builds.filter((b) => b.status === 'IN_PROGRESS');
        const victim = running[Math.floor(roll * running.length)];
        if (victim !== undefined && runner.codebuild.kill(victim.id, 'SIGKILL')) counts.killed += 1;
      }
    };

    const started = Date.now();
    const inFlight = new Set<Promise<void>>();
    for (let n = 0; n < operations; n += 1) {
      const index = Math.floor(scenario() * tagCount);
      const roll = scenario();
      const kill = scenario() < killRate;
      // Operations on one tag stay in order (a registry serializes them); others overlap.
      const previous = locks.get(index) ?? Promise.resolve();
      const op = previous.then(() => operate(n, index, roll, kill));
      locks.set(
        index,
        op.catch(() => undefined),
      );
      inFlight.add(op);
      void op.finally(() => inFlight.delete(op)).catch(() => undefined);
      if (inFlight.size >= (options.concurrency ?? 8)) await Promise.race(inFlight);
      // Events delivered once more, later and out of order: EventBridge delivers at least once.
      if (late.length > 0 && scenario() < 0.3) {
        const again = late.splice(Math.floor(scenario() * late.length), 1)[0];
        if (again !== undefined) {
          counts.redelivered += 1;
          await runner.emit({ ...again, id: `${again.id}-again` });
        }
      }
    }
    await Promise.all(inFlight);
    for (const again of late.splice(0)) {
      counts.redelivered += 1;
      await runner.emit({ ...again, id: `${again.id}-again` });
    }
    const operationsSeconds = (Date.now() - started) / 1000;
    // The pipeline works through it all with the faults still on, until it goes quiet.
    await waitFor(() => runner.busy().length === 0, {
      timeoutMs: options.settleTimeoutMs ?? 480_000,
      intervalMs: 250,
      what: 'the pipeline to go quiet under faults',
    }).catch(() => undefined);
    faultCounts.registry = runner.sourceGate.faults + runner.destinationGate.faults;
    const quietSeconds = (Date.now() - started) / 1000;
    log(
      `chaos: ${operations} operations in ${operationsSeconds.toFixed(1)} s, quiet after ${quietSeconds.toFixed(1)} s; faults ${JSON.stringify(faultCounts)}`,
    );

    // The faults stop; whatever they stranded must now converge (the sweeper included).
    delete runner.faults.dynamo;
    delete runner.faults.sqsSend;
    delete runner.faults.sqsDelete;
    delete runner.faults.startBuild;
    runner.sourceGate.setFaultRate(0);
    runner.destinationGate.setFaultRate(0);
    const settleStarted = Date.now();
    const keys = tags.map((t) => `${MIRROR(t.repository)}:${t.tag}`);
    const problems = async (): Promise<{ mismatches: string[]; unsettled: string[] }> => {
      const mismatches: string[] = [];
      await Promise.all(
        tags.map(async (t, i) => {
          const destination = await runner.digestAt('destination', MIRROR(t.repository), t.tag);
          if (destination !== atSource.get(i))
            mismatches.push(
              `${t.repository}:${t.tag} source ${atSource.get(i) ?? 'absent'} destination ${destination ?? 'absent'}`,
            );
        }),
      );
      const jobs = await runner.jobs();
      const unsettled = jobs
        .filter((j) => keys.includes(j.jobKey) && (j.status !== 'COMPLETE' || j.leaseOwner !== undefined))
        .map((j) => `${j.jobKey} ${j.status}${j.leaseOwner ? ` leased by ${j.leaseOwner}` : ''}`);
      return { mismatches: mismatches.sort(), unsettled };
    };
    let last: { mismatches: string[]; unsettled: string[] } = { mismatches: [], unsettled: [] };
    try {
      await waitFor(
        async () => {
          if (runner.busy().length > 0) return false;
          last = await problems();
          if (last.mismatches.length === 0 && last.unsettled.length === 0) return true;
          // Something is stranded and nothing is moving: the sweeper's next pass must pick it up.
          await runner.sweep();
          await sleep(200);
          return false;
        },
        { timeoutMs: options.settleTimeoutMs ?? 480_000, intervalMs: 250, what: 'the chaos run to converge' },
      );
    } catch {
      last = await problems();
    }
    const report: ChaosReport = {
      seed,
      operations: counts,
      faults: faultCounts,
      builds: runner.codebuild.builds.length,
      refusedByQueueLimit: runner.codebuild.refused,
      seconds: { operations: operationsSeconds, settle: (Date.now() - settleStarted) / 1000 },
      mismatches: last.mismatches,
      unsettled: last.unsettled,
      deadLetters: {
        requests: runner.requestDeadLetterQueue.size,
        retries: runner.retryDeadLetterQueue.size,
        events: runner.eventsDeadLetterQueue.size,
      },
      functions: runner.functionStats(),
    };
    const ok =
      report.mismatches.length === 0 &&
      report.unsettled.length === 0 &&
      Object.values(report.deadLetters).every((n) => n === 0);
    log(`chaos: ${ok ? 'CONVERGED' : 'FAILED'} seed=${seed} ${JSON.stringify(report)}`);
    return report;
  } finally {
    await runner.stop();
  }
}
