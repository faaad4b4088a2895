/**
 * Registry repair: scan both registries (plan.ts), then act on the plan — copy directly (apply.ts) or queue a
 * replication request per tag (enqueue.ts). The scheduled Lambda (handler.ts, with scheduled-repair.ts) is not
 * exported here: importing the package loads no Lambda runtime code (Powertools), which the sync command must not.
 */
export * from './plan';
export * from './apply';
export * from './enqueue';
