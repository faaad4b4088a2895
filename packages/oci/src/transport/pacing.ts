import type { PacedApi } from '@ecr-replicate/common/core';
import { RegistryHttpError } from './registry-http-error';

/**
 * How the distribution API's calls map onto the quota-bound ECR APIs (`PacedApi`, with their default quotas, in
 * `@ecr-replicate/common/core`, `quotas.ts`):
 *
 * | call                                   | ECR API                     |
 * | -------------------------------------- | --------------------------- |
 * | PUT /v2/<name>/manifests/<reference>   | PutImage                    |
 * | POST /v2/<name>/blobs/uploads/         | InitiateLayerUpload         |
 * | PATCH <upload location>                | UploadLayerPart             |
 * | PUT <upload location>?digest=          | CompleteLayerUpload         |
 * | HEAD /v2/<name>/blobs/<digest>         | BatchCheckLayerAvailability |
 */
export type { PacedApi } from '@ecr-replicate/common/core';

/**
 * A budget of request rates the calls of one registry draw from: `take` waits until the call may be sent, `throttled`
 * tells the budget that the registry refused a call for its rate (429, ThrottlingException) so that every caller
 * slows down. The pipeline's implementation is shared by every worker through the job table
 * (`@ecr-replicate/common/state`, `PacingBudget`); the copy command runs without one.
 */
export interface Pacer {
  take(api: PacedApi): Promise<void>;
  throttled(api: PacedApi): Promise<void>;
}

/** ECR's registry API answers 429 TOOMANYREQUESTS; its control-plane API names the same ThrottlingException. */
const THROTTLE_CODES = ['TOOMANYREQUESTS', 'ThrottlingException', 'ThrottledException'];

/** Whether an error is the registry refusing a request for its rate. */
export function isThrottle(error: unknown): boolean {
  return error instanceof RegistryHttpError && (error.status === 429 || THROTTLE_CODES.some((c) => error.has(c)));
}

/**
 * Runs one try of a paced call: waits for the budget first, and tells it when the registry throttled the call (the
 * error is rethrown: the request retry sends it again, drawing again from the slowed budget).
 */
export async function paced<T>(pacer: Pacer | undefined, api: PacedApi, send: () => Promise<T>): Promise<T> {
  if (pacer === undefined) return send();
  await pacer.take(api);
  try {
    return await send();
  } catch (error) {
    if (isThrottle(error)) await pacer.throttled(api).catch(() => undefined);
    throw error;
  }
}
