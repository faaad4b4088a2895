export * from './decide';
export * from './send';
export * from './ingest';
