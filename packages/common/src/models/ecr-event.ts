import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseWith } from '../validation';
import {
  AccountIdSchema,
  DigestSchema,
  EcrActionType,
  IsoDateTimeSchema,
  RegionSchema,
  RepositoryNameSchema,
  TagSchema,
} from './primitives';

/**
 * The `detail` of an EventBridge "ECR Image Action" event. Unknown fields
 * (ECR adds some, such as the manifest media type) are kept, not rejected.
 */
export const EcrImageActionDetailSchema = z.looseObject({
  result: z.enum(['SUCCESS', 'FAILURE']),
  'action-type': EcrActionType,
  'repository-name': RepositoryNameSchema,
  'image-digest': DigestSchema,
  'image-tag': TagSchema.optional(),
  'manifest-media-type': z.string().optional(),
  'artifact-media-type': z.string().optional(),
});

/** The EventBridge envelope of an ECR image action. The source registry is `account` in `region`. */
export const EcrImageActionEventSchema = z.looseObject({
  version: z.string(),
  id: z.string().min(1),
  'detail-type': z.literal('ECR Image Action'),
  source: z.literal('aws.ecr'),
  account: AccountIdSchema,
  time: IsoDateTimeSchema,
  region: RegionSchema,
  resources: z.array(z.string()).default([]),
  detail: EcrImageActionDetailSchema,
});

export type EcrImageActionDetail = z.infer<typeof EcrImageActionDetailSchema>;
export type EcrImageActionEvent = z.infer<typeof EcrImageActionEventSchema>;

export function parseEcrImageActionEvent(input: unknown): EcrImageActionEvent {
  return parseWith(EcrImageActionEventSchema, input, 'ECR Image Action event', ErrorCode.InvalidInput);
}
