import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseJsonWith, parseWith } from '../validation';
import { findPartitionOfRegion } from '../registry/partition';
import { AccountIdSchema, PartitionSchema, RegionSchema } from './primitives';

/**
 * The destination-credentials secret, stored in Secrets Manager in the source
 * partition. Field names are the ones the original system documented, so an
 * existing secret keeps working.
 */
export const DestinationSecretSchema = z
  .object({
    /** Name of the IAM user in the destination account (informational). */
    user: z.string().min(1, 'must not be empty'),
    accesskey: z.string().regex(/^(AKIA|ASIA)[A-Z0-9]{12,124}$/, 'must be an AWS access key id (AKIA...)'),
    secretaccesskey: z.string().min(16, 'must be an AWS secret access key'),
    partition: PartitionSchema,
    accountid: AccountIdSchema,
    /** Destination region; when absent the region of the destination registry host is used. */
    region: RegionSchema.optional(),
  })
  .superRefine((secret, ctx) => {
    if (secret.region === undefined) return;
    const partition = findPartitionOfRegion(secret.region);
    if (partition !== secret.partition) {
      ctx.addIssue({
        code: 'custom',
        path: ['region'],
        message:
          partition === undefined
            ? 'belongs to no known partition'
            : `is in partition ${partition}, not ${secret.partition}`,
      });
    }
  });

export type DestinationSecret = z.infer<typeof DestinationSecretSchema>;

const SUBJECT = 'destination secret';

/** Validates a parsed secret. Errors name fields and reasons, never values. */
export function parseDestinationSecret(input: unknown): DestinationSecret {
  return parseWith(DestinationSecretSchema, input, SUBJECT, ErrorCode.InvalidInput);
}

/** Validates the SecretString of the destination secret. */
export function parseDestinationSecretString(secretString: string): DestinationSecret {
  return parseJsonWith(DestinationSecretSchema, secretString, SUBJECT, ErrorCode.InvalidInput);
}

/** The secret without its key material, for logs. */
export function describeDestinationSecret(secret: DestinationSecret): Record<string, string | undefined> {
  return {
    user: secret.user,
    partition: secret.partition,
    accountid: secret.accountid,
    region: secret.region,
    accesskey: `${secret.accesskey.slice(0, 4)}…`,
  };
}
