import {
  isRepositorySelected,
  isTagSelected,
  mapRepositoryName,
  parseEcrImageActionEvent,
  type ReplicationConfig,
  type ReplicationRequest,
} from '@ecr-replicate/common';

/** Why an event is dropped without a request (the `reason` dimension of the `EventsDropped` metric). */
export const DropReason = {
  /** ECR reports the action itself failed. */
  ActionFailed: 'action-failed',
  /** A DELETE while `deletes` is off. */
  DeletesDisabled: 'deletes-disabled',
  /** A PUSH without a tag (a child of an index, copied with it) while `taglessPushes` is off. */
  TaglessPush: 'tagless-push',
  /** The repository is not selected by the configuration's repository filters. */
  RepositoryNotSelected: 'repository-not-selected',
  /** The tag is not selected by the configuration's tag filters. */
  TagNotSelected: 'tag-not-selected',
} as const;

export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export type IngestDecision = { kind: 'send'; request: ReplicationRequest } | { kind: 'drop'; reason: DropReason };

/**
 * What to do with an EventBridge "ECR Image Action" event: a replication
 * request for the FIFO queue, or a reason to drop it. Pure.
 *
 * Throws a ValidationError when the input is not a valid ECR Image Action
 * event, and INVALID_INPUT when the repository maps to an invalid name.
 */
export function toRequest(input: unknown, config: ReplicationConfig): IngestDecision {
  const event = parseEcrImageActionEvent(input);
  const detail = event.detail;
  const action = detail['action-type'];
  const repository = detail['repository-name'];
  const tag = detail['image-tag'];

  if (detail.result !== 'SUCCESS') return { kind: 'drop', reason: DropReason.ActionFailed };
  if (action === 'DELETE' && !config.deletes) return { kind: 'drop', reason: DropReason.DeletesDisabled };
  if (action === 'PUSH' && tag === undefined && !config.taglessPushes)
    return { kind: 'drop', reason: DropReason.TaglessPush };
  if (!isRepositorySelected(config, repository)) return { kind: 'drop', reason: DropReason.RepositoryNotSelected };
  if (tag !== undefined && !isTagSelected(config, tag)) return { kind: 'drop', reason: DropReason.TagNotSelected };

  return {
    kind: 'send',
    request: {
      version: 1,
      eventId: event.id,
      eventTime: event.time,
      action,
      source: { accountId: event.account, region: event.region, repository },
      destination: { repository: mapRepositoryName(config, repository) },
      ...(tag === undefined ? {} : { tag }),
      digest: detail['image-digest'],
    },
  };
}

/**
 * The event's id when it looks like one (a short printable string), for logs
 * about an event that failed validation; never anything else of the input.
 */
export function eventIdOf(input: unknown): string | undefined {
  if (typeof input !== 'object' || input === null) return undefined;
  const id = (input as Record<string, unknown>).id;
  return typeof id === 'string' && /^[\w.:-]{1,128}$/.test(id) ? id : undefined;
}
