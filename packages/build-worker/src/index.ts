/** The CodeBuild worker: `main.ts` is the program a build runs; the rest is exported for the local runner and tests. */
export * from './worker';
export * from './runner';
export * from './reconcile';
export * from './hand-over';
export * from './lease';
