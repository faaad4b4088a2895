import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseWith } from '../validation';

/**
 * The EventBridge "CodeBuild Build State Change" event, as much of it as the
 * dispatcher reads. The build's environment variables (name, value, type) are
 * in `detail.additional-information.environment.environment-variables`; for
 * PARAMETER_STORE or SECRETS_MANAGER variables the value is the reference,
 * never the secret.
 */
export const BuildStateChangeEventSchema = z.looseObject({
  id: z.string().optional(),
  'detail-type': z.literal('CodeBuild Build State Change'),
  source: z.literal('aws.codebuild'),
  detail: z.looseObject({
    'build-status': z.string().min(1),
    'project-name': z.string().min(1),
    'build-id': z.string().min(1),
    'additional-information': z
      .looseObject({
        environment: z
          .looseObject({
            'environment-variables': z
              .array(z.looseObject({ name: z.string(), value: z.string().optional() }))
              .default([]),
          })
          .optional(),
      })
      .optional(),
  }),
});

export type BuildStateChangeEvent = z.infer<typeof BuildStateChangeEventSchema>;

export function parseBuildStateChangeEvent(input: unknown): BuildStateChangeEvent {
  return parseWith(BuildStateChangeEventSchema, input, 'CodeBuild Build State Change event', ErrorCode.InvalidInput);
}

/** The build's environment variables as a name → value map. */
export function buildEnvironmentOf(event: BuildStateChangeEvent): Record<string, string | undefined> {
  const variables = event.detail['additional-information']?.environment?.['environment-variables'] ?? [];
  return Object.fromEntries(variables.map((variable) => [variable.name, variable.value]));
}
