/**
 * The job table (DynamoDB): records, leases and outcomes. A subpath of its
 * own (`@ecr-replicate/common/state`) so that code without a job table does
 * not load the DynamoDB client.
 */
export * from './job-store';
export * from './job-table';
export * from './pacing-budget';
