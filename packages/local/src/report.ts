import { mapRepositoryName } from '@ecr-replicate/common';
import { listTags } from '@ecr-replicate/testing';
import type { LocalRunner } from './runner';

/** Where one tag stands at both ends and in the job table. */
export interface TagState {
  repository: string;
  destinationRepository: string;
  tag: string;
  sourceDigest?: string;
  destinationDigest?: string;
  status?: string;
  bytesCopied?: number;
  durationSeconds?: number;
  /** Which executor recorded its last run: the copy Lambda or a worker build. */
  executor?: string;
  /** Both ends hold the same digest, or neither holds the tag. */
  equal: boolean;
}

/** Every tag of `repository` at the source or (mapped) at the destination, or with a job, sorted by name. */
export async function tagStates(runner: LocalRunner, repository: string): Promise<TagState[]> {
  const destinationRepository = mapRepositoryName(runner.config, repository);
  const [sourceTags, destinationTags, jobs] = await Promise.all([
    listTags(runner.source, repository),
    listTags(runner.destination, destinationRepository),
    runner.jobs(),
  ]);
  const ownJobs = new Map(
    jobs
      .filter((j) => j.destinationRepository === destinationRepository && j.tag !== undefined)
      .map((j) => [j.tag as string, j]),
  );
  const tags = [...new Set([...sourceTags, ...destinationTags, ...ownJobs.keys()])].sort();
  return Promise.all(
    tags.map(async (tag) => {
      const [sourceDigest, destinationDigest] = await Promise.all([
        runner.digestAt('source', repository, tag),
        runner.digestAt('destination', destinationRepository, tag),
      ]);
      const job = ownJobs.get(tag);
      return {
        repository,
        destinationRepository,
        tag,
        ...(sourceDigest === undefined ? {} : { sourceDigest }),
        ...(destinationDigest === undefined ? {} : { destinationDigest }),
        ...(job === undefined ? {} : { status: job.status }),
        ...(job?.bytesCopied === undefined ? {} : { bytesCopied: job.bytesCopied }),
        ...(job?.durationSeconds === undefined ? {} : { durationSeconds: job.durationSeconds }),
        ...(job?.executor === undefined ? {} : { executor: job.executor }),
        equal: sourceDigest === destinationDigest,
      };
    }),
  );
}

export function humanBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `sha256:1a2b3c4d5e6f` (the first 12 hex digits), or a placeholder. */
export function shortDigest(digest: string | undefined, absent = '-'): string {
  return digest === undefined ? absent : `${digest.slice(0, 19)}`;
}

/** `sha256-1a2b3c4d….sig` for the long tags of referrers, other tags as they are; in a job key, its tag. */
export function shortTag(tag: string): string {
  const match = /^(.*?)(sha256-[0-9a-f]{8})[0-9a-f]{56}(\..+)?$/.exec(tag);
  return match ? `${match[1]}${match[2]}…${match[3] ?? ''}` : tag;
}

/** Pads the columns of `rows` (the first is the header); the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[], indent = '  '): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return (
    rows
      .map(
        (row) =>
          indent +
          row
            .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
            .join('  ')
            .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** The per-tag table the demo prints. */
export function tagTable(states: readonly TagState[]): string {
  const rows = [['tag', 'source digest', 'destination digest', 'status', 'executor', 'bytes', 'seconds', 'equal']];
  for (const s of states) {
    rows.push([
      shortTag(s.tag),
      shortDigest(s.sourceDigest, '(deleted)'),
      shortDigest(s.destinationDigest, '(absent)'),
      s.status ?? '-',
      s.executor === 'lambda' ? 'copy Lambda' : s.executor === 'codebuild' ? 'CodeBuild' : '-',
      s.bytesCopied === undefined ? '-' : humanBytes(s.bytesCopied),
      s.durationSeconds === undefined ? '-' : s.durationSeconds.toFixed(2),
      s.equal ? 'yes' : 'NO',
    ]);
  }
  return formatTable(rows);
}
