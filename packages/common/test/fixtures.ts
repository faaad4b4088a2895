import { ValidationError } from '../src';

/** Sample inputs shared by the schema tests. */
export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const DIGEST_B = `sha256:${'b'.repeat(64)}`;

export function ecrPushEvent(overrides: { tag?: string | null; action?: 'PUSH' | 'DELETE'; repository?: string } = {}) {
  const detail: Record<string, unknown> = {
    result: 'SUCCESS',
    'repository-name': overrides.repository ?? 'team/app',
    'image-digest': DIGEST_A,
    'action-type': overrides.action ?? 'PUSH',
  };
  if (overrides.tag !== null) detail['image-tag'] = overrides.tag ?? 'latest';
  return {
    version: '0',
    id: '13cde686-328b-6117-af20-0e5566167482',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: '123456789012',
    time: '2026-11-16T01:54:34Z',
    region: 'us-west-2',
    resources: [],
    detail,
  };
}

/** Plausible-looking but fake key material: tests assert it never appears in errors. */
export const SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
export const ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';

export function destinationSecret(overrides: Record<string, unknown> = {}) {
  return {
    user: 'ecr-replicate',
    accesskey: ACCESS_KEY_ID,
    secretaccesskey: SECRET_ACCESS_KEY,
    partition: 'aws-us-gov',
    accountid: '210987654321',
    region: 'us-gov-west-1',
    ...overrides,
  };
}

/** The ValidationError `fn` throws; fails the test when it throws nothing or something else. */
export function validationError(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}
