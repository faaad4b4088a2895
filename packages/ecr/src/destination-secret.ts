import type { DestinationSecret } from '@ecr-replicate/common';
import { ErrorCode, ReplicationError } from '@ecr-replicate/common/core';
import { commonSchemas, secretsManagerSdk } from './sdk';

/** The region of a Secrets Manager ARN, or undefined for a plain name. */
export function regionOfSecretArn(secretId: string): string | undefined {
  const match = /^arn:[a-z-]+:secretsmanager:([a-z0-9-]+):\d{12}:secret:/.exec(secretId);
  return match?.[1];
}

/**
 * Reads and validates the destination-credentials secret (in the source
 * partition, with the caller's own AWS credentials). Errors name the secret
 * and the failing fields, never a value.
 */
export async function loadDestinationSecret(
  secretId: string,
  region?: string,
  options: { profile?: string } = {},
): Promise<DestinationSecret> {
  const secretRegion =
    regionOfSecretArn(secretId) ?? region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  const { GetSecretValueCommand, SecretsManagerClient } = secretsManagerSdk();
  const client = new SecretsManagerClient({
    ...(secretRegion ? { region: secretRegion } : {}),
    ...(options.profile !== undefined ? { profile: options.profile } : {}),
  });
  let text: string | undefined;
  try {
    const response = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    text = response.SecretString;
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'Error';
    const message = (error as { message?: string }).message ?? '';
    throw new ReplicationError(
      ErrorCode.AwsService,
      `could not read the destination secret ${secretId}: ${name}${message ? `: ${message}` : ''}${awsHint(name, message, secretRegion)}`,
      { details: { secretId, awsError: name } },
    );
  } finally {
    client.destroy();
  }
  if (text === undefined || text === '') {
    throw new ReplicationError(
      ErrorCode.InvalidInput,
      `the destination secret ${secretId} is empty: store its JSON fields (see the README)`,
      {
        details: { secretId },
      },
    );
  }
  try {
    return commonSchemas().parseDestinationSecretString(text);
  } catch (error) {
    if (error instanceof ReplicationError) {
      throw new ReplicationError(error.code, `${error.message} (secret ${secretId})`, {
        details: { ...error.details, secretId },
      });
    }
    throw error;
  }
}

/** What to do about the AWS errors a user meets first. */
export function awsHint(name: string, message: string, region: string | undefined): string {
  if (region === undefined && /region/i.test(`${name} ${message}`))
    return ' (give the region: --src-region/--dest-region, AWS_REGION, or a secret ARN)';
  if (/CredentialsProviderError|Could not load credentials/i.test(`${name} ${message}`))
    return ' (no AWS credentials found: give --src-profile/--dest-profile, set AWS_PROFILE, or the AWS_ACCESS_KEY_ID pair)';
  if (/ResourceNotFoundException/.test(name)) return ' (check the secret name and its region)';
  if (/AccessDenied|UnrecognizedClient|InvalidClientTokenId|ExpiredToken/.test(name))
    return ' (the AWS credentials in use are not allowed: check the profile or keys)';
  return '';
}
