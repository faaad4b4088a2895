import { z } from 'zod';
import { ErrorCode } from '../errors';
import { parseJsonWith, parseWith } from '../validation';

/**
 * The replication configuration: which repositories and tags replicate, how
 * repository names map to the destination, and whether deletes follow.
 */

export const FilterType = z.enum(['prefix', 'wildcard', 'regex']);
export type FilterType = z.infer<typeof FilterType>;

const FilterObjectSchema = z
  .strictObject({ type: FilterType, pattern: z.string().min(1, 'must not be empty') })
  .superRefine((filter, ctx) => {
    if (filter.type !== 'regex') return;
    try {
      new RegExp(filter.pattern);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['pattern'], message: 'is not a valid regular expression' });
    }
  });

/**
 * A name filter: `{ type, pattern }`, or its short form `"type:pattern"`
 * (`"prefix:team/"`, `"wildcard:team/*"`, `"regex:^team/(a|b)$"`). A bare
 * string without a known type is a wildcard pattern.
 */
export const FilterSchema = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const match = /^(prefix|wildcard|regex):(.*)$/s.exec(value);
  return match ? { type: match[1], pattern: match[2] } : { type: 'wildcard', pattern: value };
}, FilterObjectSchema);

export type Filter = z.infer<typeof FilterObjectSchema>;

export const NameSelectionSchema = z.strictObject({
  /** Names to replicate; empty means every name. */
  include: z.array(FilterSchema).default([]),
  /** Names never replicated, even when included. */
  exclude: z.array(FilterSchema).default([]),
});

export type NameSelection = z.infer<typeof NameSelectionSchema>;

export const RepositoryMappingSchema = z.strictObject({
  /** Exact renames, source name to destination name; checked first. */
  repositories: z.record(z.string().min(1), z.string().min(1)).default({}),
  /** Prefix rewrites; the longest matching `from` wins. */
  prefixes: z.array(z.strictObject({ from: z.string().min(1, 'must not be empty'), to: z.string() })).default([]),
});

export type RepositoryMapping = z.infer<typeof RepositoryMappingSchema>;

export const ReplicationConfigSchema = z.strictObject({
  /** Where editors find the JSON Schema of this file; ignored. */
  $schema: z.string().optional(),
  repositories: NameSelectionSchema.default({ include: [], exclude: [] }),
  tags: NameSelectionSchema.default({ include: [], exclude: [] }),
  mapping: RepositoryMappingSchema.default({ repositories: {}, prefixes: [] }),
  /** Replicate deletes: a tag deleted at the source is removed at the destination. */
  deletes: z.boolean().default(false),
  /**
   * Tagless PUSH events (ECR emits them for the children of an index) are
   * dropped by default: the child is copied with its index.
   */
  taglessPushes: z.boolean().default(false),
});

export type ReplicationConfig = z.infer<typeof ReplicationConfigSchema>;
export type ReplicationConfigInput = z.input<typeof ReplicationConfigSchema>;

const SUBJECT = 'replication configuration';

export function parseReplicationConfig(input: unknown): ReplicationConfig {
  return parseWith(ReplicationConfigSchema, input ?? {}, SUBJECT, ErrorCode.InvalidInput);
}

/** Parses the configuration from its JSON text (an environment variable); empty text means defaults. */
export function parseReplicationConfigJson(text: string | undefined): ReplicationConfig {
  if (text === undefined || text.trim() === '') return parseReplicationConfig({});
  return parseJsonWith(ReplicationConfigSchema, text, SUBJECT, ErrorCode.InvalidInput);
}

/** A filter as editors see it: the object form, or its short string form. */
const FILTER_JSON_SCHEMA = {
  anyOf: [
    {
      type: 'string',
      minLength: 1,
      description:
        'A glob ("team/*", "v[0-9]*", "{api,web}/**"), or "prefix:TEXT", "wildcard:GLOB" or "regex:EXPRESSION"',
    },
    {
      type: 'object',
      properties: {
        type: { type: 'string', enum: FilterType.options },
        pattern: { type: 'string', minLength: 1 },
      },
      required: ['type', 'pattern'],
      additionalProperties: false,
    },
  ],
};

/**
 * The JSON Schema (draft 2020-12) of the replication configuration file, for editors and CI checks; generated from
 * the schema the tools parse with, so the two cannot drift.
 */
export function replicationConfigJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ReplicationConfigSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (context) => {
      if (context.zodSchema === FilterSchema) {
        for (const key of Object.keys(context.jsonSchema)) delete (context.jsonSchema as Record<string, unknown>)[key];
        Object.assign(context.jsonSchema, FILTER_JSON_SCHEMA);
      }
    },
  }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://github.com/ecr-partition-replicate/ecr-partition-replicate/replication-config.schema.json',
    title: 'ecr-replicate replication configuration',
    description: 'Which repositories and tags replicate, how names map to the destination, and whether deletes follow.',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}
