import {
  ErrorCode,
  ReplicationError,
  ValidationError,
  parseReplicationConfig,
  type ReplicationConfigInput,
} from '@ecr-replicate/common';
import { DropReason, eventIdOf, toRequest } from '../../src/decide';
import { DIGEST_A, EVENT_ID, ecrEvent } from '../support/events';

const config = (input: ReplicationConfigInput = {}) => parseReplicationConfig(input);

describe('toRequest', () => {
  it('turns a tagged push into a request for the mapped repository', () => {
    const decision = toRequest(ecrEvent(), config({ mapping: { prefixes: [{ from: 'team/', to: 'mirror/team/' }] } }));
    expect(decision).toEqual({
      kind: 'send',
      request: {
        version: 1,
        eventId: EVENT_ID,
        eventTime: '2026-11-16T01:54:34Z',
        action: 'PUSH',
        source: { accountId: '123456789012', region: 'us-west-2', repository: 'team/app' },
        destination: { repository: 'mirror/team/app' },
        tag: 'v1.2.3',
        digest: DIGEST_A,
      },
    });
  });

  it('prefers an exact rename to a prefix rewrite', () => {
    const decision = toRequest(
      ecrEvent(),
      config({
        mapping: { repositories: { 'team/app': 'apps/renamed' }, prefixes: [{ from: 'team/', to: 'mirror/' }] },
      }),
    );
    expect(decision.kind === 'send' && decision.request.destination.repository).toBe('apps/renamed');
  });

  it.each([
    ['a failed action', ecrEvent({ result: 'FAILURE' }), {}, DropReason.ActionFailed],
    ['a delete while deletes are off', ecrEvent({ action: 'DELETE' }), {}, DropReason.DeletesDisabled],
    ['a tagless push while tagless pushes are off', ecrEvent({ tag: null }), {}, DropReason.TaglessPush],
    ['an excluded repository', ecrEvent(), { repositories: { exclude: ['team/*'] } }, DropReason.RepositoryNotSelected],
    [
      'a repository not included',
      ecrEvent(),
      { repositories: { include: ['prefix:other/'] } },
      DropReason.RepositoryNotSelected,
    ],
    ['an excluded tag', ecrEvent({ tag: 'v1-dev' }), { tags: { exclude: ['*-dev'] } }, DropReason.TagNotSelected],
    ['a tag not included', ecrEvent({ tag: 'nightly' }), { tags: { include: ['v*'] } }, DropReason.TagNotSelected],
  ] as const)('drops %s', (_name, event, input, reason) => {
    expect(toRequest(event, config(input as ReplicationConfigInput))).toEqual({ kind: 'drop', reason });
  });

  it('keeps deletes when deletes are on', () => {
    const decision = toRequest(ecrEvent({ action: 'DELETE' }), config({ deletes: true }));
    expect(decision).toMatchObject({ kind: 'send', request: { action: 'DELETE', tag: 'v1.2.3' } });
  });

  it('keeps tagless pushes when asked to, without a tag', () => {
    const decision = toRequest(ecrEvent({ tag: null }), config({ taglessPushes: true, tags: { include: ['v*'] } }));
    expect(decision.kind).toBe('send');
    expect(decision.kind === 'send' && 'tag' in decision.request).toBe(false);
  });

  it('lets signature tags through whatever the tag filters say', () => {
    const decision = toRequest(
      ecrEvent({ tag: `sha256-${'a'.repeat(64)}.sig` }),
      config({ tags: { include: ['v*'] } }),
    );
    expect(decision.kind).toBe('send');
  });

  it('throws a ValidationError naming the bad field of an invalid event', () => {
    const event = ecrEvent();
    event.detail['image-digest'] = 'sha256:nope';
    expect(() => toRequest(event, config())).toThrow(ValidationError);
    expect(() => toRequest(event, config())).toThrow(/detail\.image-digest/);
  });

  it('throws INVALID_INPUT when the mapping yields an invalid repository name', () => {
    let error: unknown;
    try {
      toRequest(ecrEvent(), config({ mapping: { prefixes: [{ from: 'team/', to: 'Bad_/' }] } }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReplicationError);
    expect((error as ReplicationError).code).toBe(ErrorCode.InvalidInput);
    expect((error as ReplicationError).message).toContain('"team/app" maps to "Bad_/app"');
  });
});

describe('eventIdOf', () => {
  it('returns a plausible id and nothing else', () => {
    expect(eventIdOf(ecrEvent())).toBe(EVENT_ID);
    expect(eventIdOf({ id: 'x'.repeat(500) })).toBeUndefined();
    expect(eventIdOf({ id: '<script>' })).toBeUndefined();
    expect(eventIdOf({ id: 42 })).toBeUndefined();
    expect(eventIdOf('text')).toBeUndefined();
    expect(eventIdOf(null)).toBeUndefined();
  });
});
