import {
  ErrorCode,
  ReplicationError,
  digestProblem,
  formatReference,
  parseDigest,
  parseReference,
  tagProblem,
} from '../../src';

const SHA256 = `sha256:${'a'.repeat(64)}`;
const SHA512 = `sha512:${'b'.repeat(128)}`;

function rejection(input: string): ReplicationError {
  try {
    parseReference(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ReplicationError);
    return error as ReplicationError;
  }
  throw new Error(`expected "${input}" to be rejected`);
}

describe('parseReference', () => {
  it.each([
    ['app', { repository: 'app' }],
    ['app:1.0', { repository: 'app', tag: '1.0' }],
    ['team/app:latest', { repository: 'team/app', tag: 'latest' }],
    ['localhost/app', { registry: 'localhost', repository: 'app' }],
    ['localhost:5000/app:v1', { registry: 'localhost:5000', repository: 'app', tag: 'v1' }],
    ['127.0.0.1:5000/a/b/c:t', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 't' }],
    ['[::1]:5000/app:t', { registry: '[::1]:5000', repository: 'app', tag: 't' }],
    [
      'registry.example.com/deeply/nested/path/app',
      { registry: 'registry.example.com', repository: 'deeply/nested/path/app' },
    ],
    [`app@${SHA256}`, { repository: 'app', digest: SHA256 }],
    [`host:443/app:tag@${SHA512}`, { registry: 'host:443', repository: 'app', tag: 'tag', digest: SHA512 }],
    ['Registry.Example.com/app', { registry: 'Registry.Example.com', repository: 'app' }],
    ['a__b/c--d/e.f_g:T_a.g-1', { repository: 'a__b/c--d/e.f_g', tag: 'T_a.g-1' }],
    [
      '123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1',
      { registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com', repository: 'team/app', tag: '1' },
    ],
  ])('parses %s', (input, expected) => {
    const parsed = parseReference(input);
    expect(parsed).toEqual(expected);
    expect(formatReference(parsed)).toBe(input);
  });

  it('accepts a tag of exactly 128 characters and rejects 129', () => {
    expect(parseReference(`app:${'t'.repeat(128)}`).tag).toHaveLength(128);
    expect(rejection(`app:${'t'.repeat(129)}`).message).toMatch(/at most 128 characters/);
  });

  it('accepts a name of 255 characters and rejects 256', () => {
    const host = 'registry.example.com'; // 20 characters + "/" = 21
    const okPath = 'a'.repeat(255 - 21);
    expect(parseReference(`${host}/${okPath}`).repository).toBe(okPath);
    expect(rejection(`${host}/${okPath}a`).message).toMatch(/at most 255 characters/);
  });

  it.each([
    ['', /empty/],
    ['App', /lowercase/],
    ['team/App:1', /lowercase/],
    ['app:', /tag is empty/],
    ['app:-bad', /does not start with/],
    ['app:.bad', /does not start with/],
    ['app:bad/tag', /not a valid registry host/],
    ['-app', /lowercase components/],
    ['app-', /lowercase components/],
    ['a//b', /lowercase components/],
    ['app with space', /white space/],
    ['app@sha256:abc', /exactly 64 lowercase hex/],
    [`app@sha256:${'A'.repeat(64)}`, /exactly 64 lowercase hex/],
    [`app@md5:${'a'.repeat(32)}`, /not supported/],
    ['app@notadigest', /<algorithm>:<hex>/],
    ['bad_host.com/app', /not a valid registry/],
    ['host:port/app', /not a valid registry/],
  ])('rejects %j', (input, reason) => {
    const error = rejection(input);
    expect(error.code).toBe(ErrorCode.InvalidReference);
    expect(error.message).toMatch(reason);
  });

  it('applies a default registry and can require a tag or digest', () => {
    expect(parseReference('app:1', { defaultRegistry: 'r.example.com' }).registry).toBe('r.example.com');
    expect(() => parseReference('app', { requireTagOrDigest: true })).toThrow(/tag .* or a digest/);
  });
});

describe('digests and tags', () => {
  it('splits valid digests', () => {
    expect(parseDigest(SHA256)).toEqual({ algorithm: 'sha256', hex: 'a'.repeat(64) });
    expect(parseDigest(SHA512)).toEqual({ algorithm: 'sha512', hex: 'b'.repeat(128) });
  });
  it('rejects wrong lengths per algorithm', () => {
    expect(digestProblem(`sha512:${'a'.repeat(64)}`)).toMatch(/128/);
    expect(digestProblem(`sha256:${'a'.repeat(63)}`)).toMatch(/64/);
    expect(() => parseDigest('sha256:zz')).toThrow(ReplicationError);
  });
  it('checks tags', () => {
    expect(tagProblem('v1.2.3_rc-1')).toBeUndefined();
    expect(tagProblem('_ok')).toBeUndefined();
    expect(tagProblem('x'.repeat(129))).toMatch(/128/);
  });
});
