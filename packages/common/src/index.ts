/**
 * The shared models, schemas, references and errors. The parts that load AWS
 * clients or Powertools have subpaths of their own, so that the command line
 * starts fast: `@ecr-replicate/common/state` (the job table) and
 * `@ecr-replicate/common/observability` (logger and metrics); and
 * `@ecr-replicate/common/core` is the schema-free part the copy command uses.
 */
export * from './core';
export * from './validation';
export * from './models/primitives';
export * from './models/ecr-event';
export * from './models/request';
export * from './models/scan-unit';
export * from './models/job';
export * from './models/secret';
export * from './models/config';
export * from './models/build-state-event';
export * from './models/copy-invocation';
export * from './rules/filters';
export * from './rules/mapping';
export * from './rules/destination-scope';
export * from './queue/fifo-ids';
export * from './settings';
