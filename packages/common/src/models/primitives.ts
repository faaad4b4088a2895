import { z } from 'zod';
import { PARTITION_NAMES } from '../registry/partition';
import { digestProblem, repositoryProblem, tagProblem } from '../registry/reference';

/** Refines a string with one of the reference module's `*Problem` checks. */
export function checkedString(problem: (value: string) => string | undefined): z.ZodString {
  return z.string().superRefine((value, ctx) => {
    const reason = problem(value);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason });
  });
}

/** Epoch milliseconds. */
export const EpochMillisSchema = z.number().int().nonnegative();

export const DigestSchema = checkedString(digestProblem);
export const TagSchema = checkedString(tagProblem);
export const RepositoryNameSchema = checkedString(repositoryProblem);
export const AccountIdSchema = z.string().regex(/^\d{12}$/, 'must be a 12-digit AWS account id');
export const RegionSchema = z.string().regex(/^[a-z]{2}(?:-[a-z]+)+-\d+$/, 'must be an AWS region such as us-east-1');

export const EcrActionType = z.enum(['PUSH', 'DELETE']);
export type EcrActionType = z.infer<typeof EcrActionType>;

export const IsoDateTimeSchema = z.iso.datetime({ offset: true });

export const PartitionSchema = z.enum(PARTITION_NAMES);
