import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DEST_ACCESS_KEY_ID,
  DEST_SECRET_ACCESS_KEY,
  DEST_SECRET_ARN,
  GOV_REGISTRY_HOST,
  destinationSecretJson,
} from '@ecr-replicate/testing';
import { loadDestinationSecret } from '@ecr-replicate/ecr';
import { chooseCredentials, dockerConfigCredentials, parseUserPassword } from '../../src/credentials';

const ecr = mockClient(ECRClient);
const secrets = mockClient(SecretsManagerClient);

beforeEach(() => {
  ecr.reset();
  secrets.reset();
});

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
    secrets.on(GetSecretValueCommand).resolves({ SecretString: destinationSecretJson() });
    ecr
      .on(GetAuthorizationTokenCommand)
      .resolves({ authorizationData: [{ authorizationToken: Buffer.from('AWS:gov-password').toString('base64') }] });
    const secret = await loadDestinationSecret(DEST_SECRET_ARN);
    expect(
      await (secrets.commandCalls(GetSecretValueCommand)[0]!.thisValue as SecretsManagerClient).config.region(),
    ).toBe('us-east-1');
    const chosen = chooseCredentials(GOV_REGISTRY_HOST, { secret });
    expect(chosen.basicUpFront).toBe(true);
    expect(chosen.origin).not.toContain(DEST_SECRET_ACCESS_KEY);
    expect(await chosen.source()).toEqual({ username: 'AWS', password: 'gov-password' });
    const credentials = await (
      ecr.commandCalls(GetAuthorizationTokenCommand)[0]!.thisValue as ECRClient
    ).config.credentials();
    expect(credentials).toMatchObject({ accessKeyId: DEST_ACCESS_KEY_ID, secretAccessKey: DEST_SECRET_ACCESS_KEY });
  });

  it('refuses a secret for another account or partition than the destination host', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: destinationSecretJson({ accountid: '111111111111' }) });
    const secret = await loadDestinationSecret(DEST_SECRET_ARN);
    expect(() => chooseCredentials(GOV_REGISTRY_HOST, { secret })).toThrow(
      /secret is for account 111111111111 in aws-us-gov, but the destination is 210987654321/,
    );
    expect(() => chooseCredentials('127.0.0.1:5000', { secret })).toThrow(/is not an ECR registry host/);
  });
});
