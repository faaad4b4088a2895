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

describe('AWS credentials of an ECR host', () => {
  const HOST = '111111111111.dkr.ecr.us-east-1.amazonaws.com';
  const token = (password: string): string => Buffer.from(`AWS:${password}`).toString('base64');

  it('a fresh token from the AWS chain wins over a stale one stored in the auth file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'creds-'));
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify({ auths: { [HOST]: { auth: token('stale-stored-token') } } }));
    ecr.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [{ authorizationToken: token('fresh') }] });
    try {
      const chosen = chooseCredentials(HOST, { authFiles: [path] });
      expect(await chosen.source()).toEqual({ username: 'AWS', password: 'fresh' });
      // Without AWS credentials, the stored one is still used.
      ecr.reset();
      ecr
        .on(GetAuthorizationTokenCommand)
        .rejects(Object.assign(new Error('no creds'), { name: 'CredentialsProviderError' }));
      expect(await chooseCredentials(HOST, { authFiles: [path] }).source()).toEqual({
        username: 'AWS',
        password: 'stale-stored-token',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("asks ECR with the side's AWS profile, and a failing profile is the answer", async () => {
    ecr.on(GetAuthorizationTokenCommand).resolves({ authorizationData: [{ authorizationToken: token('p') }] });
    await chooseCredentials(HOST, { authFiles: [], awsProfile: 'gov-admin' }).source();
    const client = ecr.commandCalls(GetAuthorizationTokenCommand)[0]!.thisValue as ECRClient;
    expect((client.config as { profile?: string }).profile).toBe('gov-admin');
    ecr.reset();
    ecr
      .on(GetAuthorizationTokenCommand)
      .rejects(Object.assign(new Error('profile gov-admin not found'), { name: 'CredentialsProviderError' }));
    await expect(chooseCredentials(HOST, { authFiles: [], awsProfile: 'gov-admin' }).source()).rejects.toThrow(
      /CredentialsProviderError: profile gov-admin not found \(no AWS credentials found: give --src-profile/,
    );
  });

  it("shows the SDK's message and what to do when the destination secret cannot be read", async () => {
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('Region is missing'), { name: 'Error' }));
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      await expect(loadDestinationSecret('ecr-replicate/destination')).rejects.toThrow(
        'could not read the destination secret ecr-replicate/destination: Error: Region is missing (give the region: --src-region/--dest-region, AWS_REGION, or a secret ARN)',
      );
    } finally {
      Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
    }
  });
});
