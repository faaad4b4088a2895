import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { ErrorCode, ReplicationError, type CopyInvocation } from '@ecr-replicate/common';

export interface CopyLambdaInvocation {
  /** The copy Lambda's name or ARN. */
  functionName: string;
  /** The jobs it reconciles; their leases are held by `leaseOwner`. */
  jobKeys: readonly string[];
  leaseOwner: string;
}

/**
 * Hands leased jobs to the copy Lambda: one asynchronous invocation (Lambda queues it and answers at once) whose
 * payload carries the job keys and the lease owner, nothing secret. Returns the id recorded with each lease,
 * `lambda:<request id>` (the invocation records its own id again when it takes the leases). Throws AWS_SERVICE when
 * Lambda refuses: the dispatcher then starts a worker build for the jobs instead.
 */
export async function invokeCopyLambda(lambda: LambdaClient, invocation: CopyLambdaInvocation): Promise<string> {
  const payload: CopyInvocation = { version: 1, jobKeys: [...invocation.jobKeys], leaseOwner: invocation.leaseOwner };
  try {
    const output = await lambda.send(
      new InvokeCommand({
        FunctionName: invocation.functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(payload)),
      }),
    );
    if (output.StatusCode !== undefined && output.StatusCode !== 202) {
      throw new Error(`status ${output.StatusCode}${output.FunctionError ? ` (${output.FunctionError})` : ''}`);
    }
    return `lambda:${output.$metadata.requestId ?? invocation.leaseOwner}`;
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    throw new ReplicationError(
      ErrorCode.AwsService,
      `Lambda Invoke of the copy function "${invocation.functionName}" failed: ${reason}`,
      { cause: error, details: { functionName: invocation.functionName, jobs: invocation.jobKeys.length } },
    );
  }
}
