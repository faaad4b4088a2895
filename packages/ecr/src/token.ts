import { ErrorCode, ReplicationError, type EcrRegistry } from '@ecr-replicate/common/core';
import type { Credentials } from '@ecr-replicate/oci';
import { ecrSdk } from './sdk';
import { awsHint } from './destination-secret';

/**
 * Registry credentials for an ECR registry from GetAuthorizationToken. The
 * token decodes to `AWS:<password>` and is valid for 12 hours. With static
 * keys (the destination secret) the call is made in the registry's own
 * partition; without, the default AWS credential chain is used.
 */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
}

/** AWS errors that say the caller's credentials are wrong or not allowed: asking again cannot help. */
const REJECTED_CREDENTIALS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'InvalidClientTokenId',
  'AccessDeniedException',
  'CredentialsProviderError',
]);

export async function ecrCredentials(
  registry: EcrRegistry,
  keys?: AwsKeys,
  options: { profile?: string } = {},
): Promise<Credentials> {
  const { ECRClient, GetAuthorizationTokenCommand } = ecrSdk();
  const client = new ECRClient({
    region: registry.region,
    useFipsEndpoint: registry.fips,
    ...(keys ? { credentials: keys } : options.profile !== undefined ? { profile: options.profile } : {}),
  });
  try {
    const response = await client.send(new GetAuthorizationTokenCommand({}));
    const token = response.authorizationData?.[0]?.authorizationToken;
    if (token === undefined) {
      throw new ReplicationError(
        ErrorCode.AuthUnavailable,
        `ECR returned no authorization token for ${registry.accountId} in ${registry.region}`,
      );
    }
    const decoded = Buffer.from(token, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new ReplicationError(ErrorCode.AuthFailed, 'the ECR authorization token is malformed');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  } catch (error) {
    if (error instanceof ReplicationError) throw error;
    const name = (error as { name?: string }).name ?? 'Error';
    const message = (error as { message?: string }).message ?? String(error);
    throw new ReplicationError(
      REJECTED_CREDENTIALS.has(name) ? ErrorCode.AuthFailed : ErrorCode.AuthUnavailable,
      `could not get an ECR token for ${registry.accountId} in ${registry.region}: ${name}: ${message}${awsHint(name, message, registry.region)}`,
      {
        details: { region: registry.region, accountId: registry.accountId, awsError: name },
      },
    );
  } finally {
    client.destroy();
  }
}
