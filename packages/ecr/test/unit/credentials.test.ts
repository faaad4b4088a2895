import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DEST_SECRET_ACCESS_KEY,
  DEST_SECRET_ARN,
  GOV_REGISTRY_HOST,
  destinationSecretJson,
} from '@ecr-replicate/testing';
import { ErrorCode, parseEcrHost } from '@ecr-replicate/common';
import { ecrCredentials, loadDestinationSecret, regionOfSecretArn } from '../../src';

const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

beforeEach(() => {
  ecr.reset();
  secrets.reset();
});

describe('ECR tokens and the destination secret', () => {
  it('gets an ECR token and decodes AWS:<password>, in the registry region and FIPS endpoint', async () => {
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from('AWS:ecr-password').toString('base64') }] });
    const registry = parseEcrHost('123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com');
    expect(await ecrCredentials(registry)).toEqual({ username: 'AWS', password: 'ecr-password' });
    const call = ecr.commandCalls(GetAuthorizationTokenCommand)[0]!;
    const config = (call.thisValue as ECRClient).config;
    expect(await config.region()).toBe('us-gov-east-1');
    expect(await config.useFipsEndpoint()).toBe(true);
  });

  it('turns an ECR failure into AUTH_FAILED (rejected keys) or AUTH_UNAVAILABLE (retryable), naming the registry', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error('The security token included in the request is invalid'), {
        name: 'UnrecognizedClientException',
      }),
    );
    await expect(ecrCredentials(parseEcrHost(GOV_REGISTRY_HOST))).rejects.toMatchObject({
      code: ErrorCode.AuthFailed,
      retryable: false,
      message: expect.stringContaining(
        'could not get an ECR token for 210987654321 in us-gov-west-1: UnrecognizedClientException',
      ),
    });
    ecr
      .on(GetAuthorizationTokenCommand)
      .rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }));
    await expect(ecrCredentials(parseEcrHost(GOV_REGISTRY_HOST))).rejects.toMatchObject({
      code: ErrorCode.AuthUnavailable,
      retryable: true,
      message: expect.stringContaining('ThrottlingException: Rate exceeded'),
    });
  });

  it('names a broken secret field without its value, and an unreadable secret by name', async () => {
    secrets.on(GetSecretValueCommand).resolves({
      SecretString: destinationSecretJson({ secretaccesskey: undefined, partition: DEST_SECRET_ACCESS_KEY }),
    });
    const error = await loadDestinationSecret(DEST_SECRET_ARN).then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toContain('secretaccesskey: is required');
    expect(error.message).toContain('partition');
    expect(error.message).toContain(DEST_SECRET_ARN);
    expect(JSON.stringify(error) + error.message).not.toContain(DEST_SECRET_ACCESS_KEY);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '' });
    await expect(loadDestinationSecret(DEST_SECRET_ARN)).rejects.toThrow(/is empty/);
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(loadDestinationSecret(DEST_SECRET_ARN)).rejects.toMatchObject({
      code: ErrorCode.AwsService,
      message: expect.stringContaining('AccessDeniedException'),
    });
  });

  it('reads the region of a secret ARN', () => {
    expect(regionOfSecretArn(DEST_SECRET_ARN)).toBe('us-east-1');
    expect(regionOfSecretArn('arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x')).toBe(
      'us-gov-west-1',
    );
    expect(regionOfSecretArn('plain-name')).toBeUndefined();
  });
});
