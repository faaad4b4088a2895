import { ErrorCode, ReplicationError } from '../errors';

/** The AWS partitions ECR runs in, with the DNS suffix of their endpoints. */
export const PARTITIONS = {
  aws: { dnsSuffix: 'amazonaws.com', regionPattern: /^(?:us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-\d+$/ },
  'aws-us-gov': { dnsSuffix: 'amazonaws.com', regionPattern: /^us-gov-[a-z]+-\d+$/ },
  'aws-cn': { dnsSuffix: 'amazonaws.com.cn', regionPattern: /^cn-[a-z]+-\d+$/ },
  'aws-iso': { dnsSuffix: 'c2s.ic.gov', regionPattern: /^us-iso-[a-z]+-\d+$/ },
  'aws-iso-b': { dnsSuffix: 'sc2s.sgov.gov', regionPattern: /^us-isob-[a-z]+-\d+$/ },
  'aws-iso-e': { dnsSuffix: 'cloud.adc-e.uk', regionPattern: /^eu-isoe-[a-z]+-\d+$/ },
  'aws-iso-f': { dnsSuffix: 'csp.hci.ic.gov', regionPattern: /^us-isof-[a-z]+-\d+$/ },
} as const satisfies Record<string, { dnsSuffix: string; regionPattern: RegExp }>;

export type Partition = keyof typeof PARTITIONS;

export const PARTITION_NAMES = Object.keys(PARTITIONS) as [Partition, ...Partition[]];

/** Partition checks are ordered so that `us-gov-` and `us-iso*-` win over the commercial `us-`. */
const LOOKUP_ORDER: readonly Partition[] = [
  'aws-us-gov',
  'aws-iso',
  'aws-iso-b',
  'aws-iso-f',
  'aws-iso-e',
  'aws-cn',
  'aws',
];

/** The partition a region belongs to, or undefined when the region matches none. */
export function findPartitionOfRegion(region: string): Partition | undefined {
  return LOOKUP_ORDER.find((p) => PARTITIONS[p].regionPattern.test(region));
}

/** The partition a region belongs to; throws `UNKNOWN_PARTITION` for anything else. */
export function partitionOfRegion(region: string): Partition {
  const partition = findPartitionOfRegion(region);
  if (partition === undefined) {
    throw new ReplicationError(ErrorCode.UnknownPartition, `region "${region}" belongs to no known AWS partition`, {
      details: { region },
    });
  }
  return partition;
}

export function dnsSuffixOf(partition: Partition): string {
  return PARTITIONS[partition].dnsSuffix;
}
