export * from './decide';
export * from './ingest';
