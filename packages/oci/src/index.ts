/**
 * The OCI distribution client and the image copy engine. See docs/architecture.md for the layers:
 * transport (undici, request retry) → auth (challenges, tokens) → registry client (API calls) → copy engine.
 */
export * from './transport/request-retry';
export * from './auth/authenticator';
export * from './registry-client';
export * from './manifest/media-types';
export * from './copy/copy-image';
export * from './copy/events';
export * from './copy/limiter';
export * from './copy/verifier';
export * from './transport/registry-http-error';
