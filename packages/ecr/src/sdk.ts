/* eslint-disable @typescript-eslint/no-require-imports -- this module is the package's one place for lazy loads */
import type * as EcrSdk from '@aws-sdk/client-ecr';
import type * as SecretsManagerSdk from '@aws-sdk/client-secrets-manager';
import type * as CommonSchemas from '@ecr-replicate/common';

/**
 * The AWS SDK clients and the schema library, loaded on first use. The `ecr-replicate copy` command imports this
 * package for ECR tokens, and most copies never call an AWS API: loading the ECR client costs about 60 ms and
 * Secrets Manager's as much again, and the schemas (zod) another 30 ms. Every other module of the package imports
 * them as types only and calls these functions where it needs the values (lint enforces it; see
 * docs/architecture.md, "Start-up budget").
 */
export function ecrSdk(): typeof EcrSdk {
  return require('@aws-sdk/client-ecr') as typeof EcrSdk;
}

export function secretsManagerSdk(): typeof SecretsManagerSdk {
  return require('@aws-sdk/client-secrets-manager') as typeof SecretsManagerSdk;
}

/** The schema-validating part of `@ecr-replicate/common` (its root entry point, which loads zod). */
export function commonSchemas(): typeof CommonSchemas {
  return require('@ecr-replicate/common') as typeof CommonSchemas;
}
