import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  ReplicationError,
  ValidationError,
  parseReplicationConfigJson,
  replicationConfigJsonSchema,
  type Filter,
  type ReplicationConfig,
} from '@ecr-replicate/common';
import type { CliIo } from './io';
import { parseCommandLine } from './options';
import { errorLine } from './reporter';
import { CONFIG_HELP, EXIT_FAILED, EXIT_OK, UsageError } from './usage';

const OPTIONS = { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;

function filters(list: readonly Filter[]): string {
  return list.map((f) => (f.type === 'wildcard' ? f.pattern : `${f.type}:${f.pattern}`)).join(', ');
}

/** What a configuration selects, in words. */
export function describeConfig(config: ReplicationConfig): string[] {
  const selection = (what: string, s: ReplicationConfig['repositories']): string =>
    `${what}: ${s.include.length === 0 ? 'all' : filters(s.include)}${s.exclude.length > 0 ? `, except ${filters(s.exclude)}` : ''}`;
  const renames = Object.keys(config.mapping.repositories).length + config.mapping.prefixes.length;
  return [
    selection('repositories', config.repositories),
    selection('tags', config.tags),
    `mapping: ${renames === 0 ? 'names kept' : `${renames} rule${renames === 1 ? '' : 's'}`}`,
    `deletes: ${config.deletes ? 'replicated' : 'not replicated'}`,
  ];
}

/** `ecr-replicate config check FILE` and `ecr-replicate config schema`. */
export async function configCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine(
    () => parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS }),
    OPTIONS,
  );
  const [action, ...rest] = positionals;
  if (values.help === true) {
    io.stdout.write(CONFIG_HELP);
    return EXIT_OK;
  }
  if (action === 'schema' && rest.length === 0) {
    io.stdout.write(`${JSON.stringify(replicationConfigJsonSchema(), null, 2)}\n`);
    return EXIT_OK;
  }
  if (action !== 'check' || rest.length !== 1) {
    throw new UsageError(
      action === undefined || !['check', 'schema'].includes(action)
        ? `config takes "check FILE" or "schema"${action === undefined ? '' : ` (got "${action}")`}`
        : `config ${action} takes ${action === 'check' ? 'one FILE' : 'no argument'}`,
    );
  }
  const file = rest[0] as string;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  try {
    const config = parseReplicationConfigJson(text);
    if (values.json === true) io.stdout.write(`${JSON.stringify({ event: 'valid', file, config })}\n`);
    else
      io.stdout.write(
        `${file}: valid\n${describeConfig(config)
          .map((line) => `  ${line}\n`)
          .join('')}`,
      );
    return EXIT_OK;
  } catch (error) {
    if (!(error instanceof ReplicationError)) throw error;
    const issues = error instanceof ValidationError ? error.issues : [{ path: '(root)', reason: error.message }];
    if (values.json === true)
      io.stdout.write(
        `${JSON.stringify({ event: 'error', code: error.code, file, message: error.message, issues })}\n`,
      );
    io.stderr.write(
      errorLine(error.code, `${file} is not a valid replication configuration`) +
        issues.map((issue) => `  ${issue.path}: ${issue.reason}\n`).join(''),
    );
    return EXIT_FAILED;
  }
}
