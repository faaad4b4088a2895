import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ECRClient, GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { ErrorCode, parseEcrHost } from '@ecr-replicate/common';
import {
  Authenticator,
  chooseCredentials,
  dockerConfigCredentials,
  ecrCredentials,
  loadDestinationSecret,
  parseChallenge,
  parseRetryAfter,
  parseUserPassword,
  regionOfSecretArn,
} from '../src';

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

describe('challenges and Retry-After', () => {
  it('parses Basic and Bearer challenges', () => {
    expect(parseChallenge('Basic realm="basic-realm"')).toEqual({ scheme: 'basic', params: { realm: 'basic-realm' } });
    expect(
      parseChallenge(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' },
    });
    expect(parseChallenge('Negotiate abc')).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });

  it('parses Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(Date.UTC(2030, 0, 1, 0, 0, 10)).toUTCString(), Date.UTC(2030, 0, 1))).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });

  it('refuses credentials a Basic registry rejected instead of looping', async () => {
    const auth = new Authenticator(
      'r.example',
      async () => ({ username: 'u', password: 'p' }),
      async () => ({ status: 500, body: '' }),
    );
    const header = await auth.onUnauthorized('Basic realm="x"', 'repository:a:pull', undefined);
    await expect(auth.onUnauthorized('Basic realm="x"', 'repository:a:pull', header)).rejects.toMatchObject({
      code: ErrorCode.AuthFailed,
      message: 'r.example rejected the credentials',
    });
  });

  it('shares one token request among concurrent requests of a scope', async () => {
    let requests = 0;
    const auth = new Authenticator(
      'r.example',
      async () => undefined,
      async (url) => {
        requests += 1;
        expect(new URL(url).searchParams.getAll('scope')).toEqual(['repository:a:pull']);
        await new Promise((r) => setTimeout(r, 10));
        return { status: 200, body: JSON.stringify({ token: 't1', expires_in: 300 }) };
      },
    );
    await auth.onUnauthorized('Bearer realm="http://127.0.0.1:1/token",service="s"', 'repository:a:pull', undefined);
    const headers = await Promise.all([1, 2, 3, 4].map(() => auth.headerFor('repository:a:pull')));
    expect(headers).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t1', 'Bearer t1']);
    expect(requests).toBe(1);
  });
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

  it('turns an ECR failure into AUTH_FAILED naming the registry', async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(
      Object.assign(new Error('The security token included in the request is invalid'), {
        name: 'UnrecognizedClientException',
      }),
    );
    await expect(ecrCredentials(parseEcrHost(GOV_HOST))).rejects.toMatchObject({
      code: ErrorCode.AuthFailed,
      message: expect.stringContaining(
        'could not get an ECR token for 210987654321 in us-gov-west-1: UnrecognizedClientException',
      ),
    });
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

  it('names a broken secret field without its value, and an unreadable secret by name', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolves({ SecretString: secretJson({ secretaccesskey: undefined, partition: SECRET_KEY }) });
    const error = await loadDestinationSecret(SECRET_ARN).then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(error.message).toContain('secretaccesskey: is required');
    expect(error.message).toContain('partition');
    expect(error.message).toContain(SECRET_ARN);
    expect(JSON.stringify(error) + error.message).not.toContain(SECRET_KEY);
    secrets.on(GetSecretValueCommand).resolves({ SecretString: '' });
    await expect(loadDestinationSecret(SECRET_ARN)).rejects.toThrow(/is empty/);
    secrets.on(GetSecretValueCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(loadDestinationSecret(SECRET_ARN)).rejects.toMatchObject({
      code: ErrorCode.AwsService,
      message: expect.stringContaining('AccessDeniedException'),
    });
  });

  it('reads the region of a secret ARN', () => {
    expect(regionOfSecretArn(SECRET_ARN)).toBe('us-east-1');
    expect(regionOfSecretArn('arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x')).toBe(
      'us-gov-west-1',
    );
    expect(regionOfSecretArn('plain-name')).toBeUndefined();
  });
});
