/**
 * Sending a replication request to the FIFO request queue (`@ecr-replicate/common/queue`): the one way every
 * producer — ingest, the sync command, the scheduled repair — queues work. Loads the SQS client.
 */
export * from './fifo-ids';
export * from './send-request';
export * from './sqs-options';
