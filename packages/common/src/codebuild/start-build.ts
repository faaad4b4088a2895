import { StartBuildCommand, type CodeBuildClient } from '@aws-sdk/client-codebuild';
import { ErrorCode, ReplicationError } from '../errors';
import { EnvName } from '../settings';

/** StartBuild refusals that no retry fixes. */
const PERMANENT_START_ERRORS: ReadonlySet<string> = new Set([
  'ResourceNotFoundException',
  'InvalidInputException',
  'AccessDeniedException',
  'OAuthProviderException',
]);

export interface WorkerBuild {
  /** The CodeBuild project that runs the worker. */
  projectName: string;
  /** The jobs the build reconciles; their leases are held by `leaseOwner`. */
  jobKeys: readonly string[];
  leaseOwner: string;
  /** StartBuild's idempotency token (default: the lease owner, which a dispatch uses once). */
  idempotencyToken?: string;
}

/**
 * Starts one worker build for `jobKeys`. The build learns its jobs and lease
 * owner from two plain-text environment overrides, `JOB_KEYS` (a JSON array)
 * and `LEASE_OWNER`; nothing secret is ever passed this way (the worker reads
 * the destination secret itself). The lease owner doubles as the idempotency
 * token unless another is given, so an SDK retry of this call does not start a second build. Used by the dispatcher
 * and by the copy Lambda when it hands jobs over.
 * Returns the build id; throws AWS_SERVICE when CodeBuild refuses.
 */
export async function startWorkerBuild(codebuild: CodeBuildClient, build: WorkerBuild): Promise<string> {
  try {
    const output = await codebuild.send(
      new StartBuildCommand({
        projectName: build.projectName,
        idempotencyToken: build.idempotencyToken ?? build.leaseOwner,
        environmentVariablesOverride: [
          { name: EnvName.jobKeys, value: JSON.stringify(build.jobKeys), type: 'PLAINTEXT' },
          { name: EnvName.leaseOwner, value: build.leaseOwner, type: 'PLAINTEXT' },
        ],
      }),
    );
    return output.build?.id ?? '(unknown build id)';
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const name = error instanceof Error ? error.name : '';
    throw new ReplicationError(
      ErrorCode.AwsService,
      `CodeBuild StartBuild of project "${build.projectName}" failed: ${reason}`,
      {
        cause: error,
        // A missing project or a refused input stays wrong however often it is tried.
        ...(PERMANENT_START_ERRORS.has(name) ? { retryable: false } : {}),
        details: { projectName: build.projectName, jobs: build.jobKeys.length },
      },
    );
  }
}
