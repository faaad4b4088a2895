import { randomUUID } from 'node:crypto';
import type { EcrImageActionEvent } from '@ecr-replicate/common';

/**
 * EventBridge "ECR Image Action" events as ECR emits them: the registry is
 * the event's account and region, `time` has a resolution of one second,
 * `id` is a random UUID.
 */

export interface ImageActionInput {
  action: 'PUSH' | 'DELETE';
  repository: string;
  digest: string;
  /** Absent for digest-only actions (the children of an index, an untagged push or delete). */
  tag?: string;
  result?: 'SUCCESS' | 'FAILURE';
  /** `manifest-media-type` of the manifest (ECR sends it on pushes). */
  mediaType?: string;
  account: string;
  region: string;
  /** Default: now. */
  time?: Date | number | string;
  /** Default: a random UUID. */
  id?: string;
}

/** An ISO time at EventBridge's resolution (seconds). */
export function eventTime(time: Date | number | string = Date.now()): string {
  const millis = time instanceof Date ? time.getTime() : typeof time === 'number' ? time : Date.parse(time);
  return new Date(Math.floor(millis / 1000) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

export function ecrImageActionEvent(input: ImageActionInput): EcrImageActionEvent {
  const detail: EcrImageActionEvent['detail'] = {
    result: input.result ?? 'SUCCESS',
    'repository-name': input.repository,
    'image-digest': input.digest,
    'action-type': input.action,
    ...(input.tag === undefined ? {} : { 'image-tag': input.tag }),
    ...(input.mediaType === undefined || input.action !== 'PUSH' ? {} : { 'manifest-media-type': input.mediaType }),
  };
  return {
    version: '0',
    id: input.id ?? randomUUID(),
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: input.account,
    time: eventTime(input.time),
    region: input.region,
    resources: [`arn:aws:ecr:${input.region}:${input.account}:repository/${input.repository}`],
    detail,
  };
}

/** What an image push is made of, for its events: the manifest to tag and every manifest pushed (children first). */
export interface PushedImage {
  root: { digest: string; mediaType: string };
  manifests: ReadonlyArray<{ digest: string; mediaType: string }>;
}

/**
 * The events of one push: ECR emits a tagless PUSH for each manifest pushed
 * by digest (the children of an index), then one for the tagged manifest.
 */
export function pushEvents(
  repository: string,
  image: PushedImage,
  tag: string | undefined,
  registry: { account: string; region: string },
  time?: Date | number | string,
): EcrImageActionEvent[] {
  const children = image.manifests.filter((m) => m.digest !== image.root.digest);
  const common = {
    action: 'PUSH' as const,
    repository,
    account: registry.account,
    region: registry.region,
    ...(time === undefined ? {} : { time }),
  };
  return [
    ...children.map((m) => ecrImageActionEvent({ ...common, digest: m.digest, mediaType: m.mediaType })),
    ecrImageActionEvent({
      ...common,
      digest: image.root.digest,
      mediaType: image.root.mediaType,
      ...(tag === undefined ? {} : { tag }),
    }),
  ];
}
