/**
 * Registry repair: scan both registries (plan.ts), then act on the plan — copy directly (apply.ts) or queue a
 * replication request per tag (enqueue.ts), or fan the scan out: one scan unit per repository (fan-out.ts), each
 * compared by a scan Lambda (scan-unit.ts). The Lambdas (handler.ts with scheduled-repair.ts, scan-handler.ts with
 * scan-batch.ts) are not exported here: importing the package loads no Lambda runtime code (Powertools), which the
 * sync command must not.
 */
export * from './plan';
export * from './apply';
export * from './enqueue';
export * from './fan-out';
export * from './scan-queue';
export * from './scan-unit';
