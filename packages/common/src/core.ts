/**
 * The part of the shared code that loads no schema library and no AWS client:
 * errors, image references, digests, ECR hosts and partitions. The copy
 * command line imports only this (`@ecr-replicate/common/core`), so that it
 * starts fast; everything here is also exported by the package root.
 */
export * from './errors';
export * from './registry/partition';
export * from './registry/ecr-host';
export * from './registry/reference';
export * from './registry/referrer-tag';
export * from './masking';
export * from './text/suggest';
export * from './quotas';
