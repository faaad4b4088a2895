/** The copy-engine test harness: local registries, synthetic images, fault and auth fronts. */
export * from './registry/deterministic';
export * from './registry/images';
export * from './registry/large-images';
export * from './registry/registry-http';
export * from './registry/registry-server';
export * from './registry/http-forward';
export * from './registry/fault-proxy';
export * from './registry/token-server';
export * from './registry/latency-link';
