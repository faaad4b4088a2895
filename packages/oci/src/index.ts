/**
 * The OCI distribution client and the image copy engine. See docs/architecture.md for the layers:
 * transport (undici, origins, bodies, request retry) → auth (challenges, tokens) → registry client (API calls:
 * manifests, blobs, tags and catalog, referrers) → copy engine.
 */
export * from './transport/request-retry';
export * from './transport/pacing';
export * from './transport/registry-http-error';
export * from './transport/registry-transport';
export * from './transport/body';
export * from './transport/origin';
export * from './auth/authenticator';
export * from './api/paths';
export * from './api/paginate';
export * from './registry-client';
export * from './manifest/media-types';
export * from './copy/copy-image';
export * from './copy/events';
export * from './copy/limiter';
export * from './copy/verifier';
export * from './transport/connection';
