import { ErrorCode } from '@ecr-replicate/common';
import { Authenticator, parseChallenge, parseRetryAfter } from '../../src';

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
    await auth.onUnauthorized('Bearer realm="https://auth.example/token",service="s"', 'repository:a:pull', undefined);
    const headers = await Promise.all([1, 2, 3, 4].map(() => auth.headerFor('repository:a:pull')));
    expect(headers).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t1', 'Bearer t1']);
    expect(requests).toBe(1);
  });

  it.each([
    ['plain HTTP', 'http://auth.example/token'],
    ['another scheme', 'ftp://auth.example/token'],
  ])('sends no credentials to a token realm over %s for an HTTPS registry', async (_name, realm) => {
    const fetched: string[] = [];
    const auth = new Authenticator(
      'r.example',
      async () => ({ username: 'u', password: 'secret-password' }),
      async (url, authorization) => {
        fetched.push(`${url} ${authorization ?? ''}`);
        return { status: 200, body: JSON.stringify({ token: 't1' }) };
      },
    );
    await expect(
      auth.onUnauthorized(`Bearer realm="${realm}",service="s"`, 'repository:a:pull', undefined),
    ).rejects.toMatchObject({
      code: ErrorCode.AuthFailed,
      message: expect.stringContaining('credentials go only to an HTTPS realm'),
    });
    expect(fetched).toEqual([]);
  });

  it('accepts a plain-HTTP realm for a registry that is plain HTTP itself (loopback, --plain-http)', async () => {
    const auth = new Authenticator(
      '127.0.0.1:5000',
      async () => undefined,
      async () => ({ status: 200, body: JSON.stringify({ token: 't1' }) }),
      { plainHttpRealm: true },
    );
    expect(await auth.onUnauthorized('Bearer realm="http://127.0.0.1:1/token"', 'repository:a:pull', undefined)).toBe(
      'Bearer t1',
    );
  });
});
