export const DIGEST_A = `sha256:${'a'.repeat(64)}`;
export const EVENT_ID = '13cde686-328b-6117-af20-0e5566167482';

export interface EventOptions {
  id?: string;
  tag?: string | null;
  action?: 'PUSH' | 'DELETE';
  result?: 'SUCCESS' | 'FAILURE';
  repository?: string;
}

/** An EventBridge "ECR Image Action" event as ECR sends it. */
export function ecrEvent(options: EventOptions = {}) {
  const detail: Record<string, unknown> = {
    result: options.result ?? 'SUCCESS',
    'repository-name': options.repository ?? 'team/app',
    'image-digest': DIGEST_A,
    'action-type': options.action ?? 'PUSH',
  };
  if (options.tag !== null) detail['image-tag'] = options.tag ?? 'v1.2.3';
  return {
    version: '0',
    id: options.id ?? EVENT_ID,
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: '123456789012',
    time: '2026-11-16T01:54:34Z',
    region: 'us-west-2',
    resources: [],
    detail,
  };
}
