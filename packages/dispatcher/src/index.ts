export * from './codebuild';
export * from './fifo-order';
export * from './dispatch';
export * from './build-state';
export * from './job-retry';
export * from './job-retry-forward';
export * from './back-pressure';
export * from './sweep';
