/** The copy Lambda: `handler.ts` is the Lambda's entry; the rest is exported for the local runner and tests. */
export * from './budget';
export * from './claim';
export * from './copy';
export * from './hand-over';
export * from './image-size';
