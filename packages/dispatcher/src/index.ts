export * from './codebuild';
export * from './fifo-order';
export * from './dispatch';
export * from './build-state';
export * from './retry-queue';
export * from './retry';
