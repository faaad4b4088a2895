import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseWith } from '../validation';

/**
 * What the dispatcher hands the copy Lambda (an asynchronous invocation's payload): the jobs whose leases it took,
 * and the lease owner they are held by. The same two things a worker build gets as JOB_KEYS and LEASE_OWNER; nothing
 * secret.
 */
export const CopyInvocationSchema = z.object({
  version: z.literal(1),
  jobKeys: z
    .array(z.string().min(1))
    .min(1)
    .max(100)
    .refine((keys) => new Set(keys).size === keys.length, 'job keys must be distinct'),
  leaseOwner: z.string().regex(/^[\x21-\x7e]{1,128}$/, 'must be 1 to 128 printable ASCII characters without spaces'),
});
export type CopyInvocation = z.infer<typeof CopyInvocationSchema>;

/** Validates a copy Lambda payload; throws INVALID_INPUT naming what is wrong. */
export function parseCopyInvocation(input: unknown): CopyInvocation {
  return parseWith(CopyInvocationSchema, input, 'copy Lambda invocation', ErrorCode.InvalidInput);
}

/** Which executor ran a job: the copy Lambda, or a CodeBuild worker build. */
export const Executor = z.enum(['lambda', 'codebuild']);
export type Executor = z.infer<typeof Executor>;
