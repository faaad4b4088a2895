import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import { chooseCredentials, dockerConfigCredentials, parseUserPassword } from '../../src/credentials';

const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const GOV_HOST = '210987654321.dkr.ecr.us-gov-west-1.amazonaws.com';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-replicate/destination-AbCdEf';

const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

beforeEach(() => {
  ecr.reset();
  secrets.reset();
});

function secretJson(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    user: 'ecr-replicate',
    accesskey: ACCESS_KEY,
    secretaccesskey: SECRET_KEY,
    partition: 'aws-us-gov',
    accountid: '210987654321',
    ...overrides,
  });
}

describe('credential sources', () => {
  it('parses USER:PASSWORD with colons in the password, and rejects a missing user', () => {
    expect(parseUserPassword('AWS:a:b:c', 'x')).toEqual({ username: 'AWS', password: 'a:b:c' });
    expect(() => parseUserPassword(':p', '--src-creds')).toThrow('--src-creds must be USER:PASSWORD');
  });

  it('reads the Docker config file auths (auth or username/password)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'creds-'));
    const path = join(dir, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: {
          'a.example': { auth: Buffer.from('u1:p1').toString('base64') },
          'https://b.example': { username: 'u2', password: 'p2' },
        },
      }),
    );
    try {
      expect(await dockerConfigCredentials('a.example', path)).toEqual({ username: 'u1', password: 'p1' });
      expect(await dockerConfigCredentials('b.example', path)).toEqual({ username: 'u2', password: 'p2' });
      expect(await dockerConfigCredentials('c.example', path)).toBeUndefined();
      expect(await dockerConfigCredentials('a.example', join(dir, 'missing.json'))).toBeUndefined();
      await writeFile(path, '{not json');
      await expect(dockerConfigCredentials('a.example', path)).rejects.toThrow(/is not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('uses the destination secret keys for the destination partition', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretJson() });
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from('AWS:gov-password').toString('base64') }] });
    const secret = await loadDestinationSecret(SECRET_ARN);
    expect(
      await (secrets.commandCalls(GetSecretValueCommand)[0]!.thisValue as SecretsManagerClient).config.region(),
    ).toBe('us-east-1');
    const chosen = chooseCredentials(GOV_HOST, { secret });
    expect(chosen.basicUpFront).toBe(true);
    expect(chosen.origin).not.toContain(SECRET_KEY);
    expect(await chosen.source()).toEqual({ username: 'AWS', password: 'gov-password' });
    const credentials = await (
      ecr.commandCalls(GetAuthorizationTokenCommand)[0]!.thisValue as ECRClient
    ).config.credentials();
    expect(credentials).toMatchObject({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
  });

  it('refuses a secret for another account or partition than the destination host', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: secretJson({ accountid: '111111111111' }) });
    const secret = await loadDestinationSecret(SECRET_ARN);
    expect(() => chooseCredentials(GOV_HOST, { secret })).toThrow(
      /secret is for account 111111111111 in aws-us-gov, but the destination is 210987654321/,
    );
    expect(() => chooseCredentials('127.0.0.1:5000', { secret })).toThrow(/is not an ECR registry host/);
  });
});
