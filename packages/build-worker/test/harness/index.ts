/** The copy-engine test harness: local registries, synthetic images, fault and auth fronts. */
export * from './deterministic';
export * from './images';
export * from './large-images';
export * from './registry-http';
export * from './registry-server';
export * from './http-forward';
export * from './fault-proxy';
export * from './token-server';
