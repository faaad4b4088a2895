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
    await auth.onUnauthorized('Bearer realm="http://127.0.0.1:1/token",service="s"', 'repository:a:pull', undefined);
    const headers = await Promise.all([1, 2, 3, 4].map(() => auth.headerFor('repository:a:pull')));
    expect(headers).toEqual(['Bearer t1', 'Bearer t1', 'Bearer t1', 'Bearer t1']);
    expect(requests).toBe(1);
  });
});
