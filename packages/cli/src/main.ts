import type * as ConfigCommand from './config-command';
import type * as StatusCommand from './status-command';
import type * as SyncCommand from './sync-command';
import { setFlagsFromString } from 'node:v8';
import { didYouMean, toReplicationError } from '@ecr-replicate/common/core';
import { copySummary, JsonReporter, TerminalReporter, type Reporter } from './reporter';
import { COPY_HELP, describe, parseCopyArguments, runCopy } from './copy-command';
import type { CliIo, Command } from './io';
import { CONFIG_HELP, EXIT_FAILED, EXIT_OK, EXIT_USAGE, MAIN_HELP, STATUS_HELP, SYNC_HELP, UsageError } from './usage';

export type { CliIo } from './io';

/** The package's version, from its package.json (one level up from dist/ and from the bundle alike). */
export function version(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('../package.json') as { version: string }).version;
}

function reporterFor(io: CliIo, json: boolean, image: string): Reporter {
  return json || !io.stdout.isTTY || !io.stderr.isTTY
    ? new JsonReporter(io.stdout, io.stderr)
    : new TerminalReporter(io.stdout, io.stderr, image);
}

/** `ecr-replicate copy`: the exit status. */
async function copyCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCopyArguments(argv, io.env);
  if (args === 'help') {
    io.stdout.write(COPY_HELP);
    return EXIT_OK;
  }
  const reporter = reporterFor(io, args.json, describe(args.source));
  try {
    const result = await runCopy(args, (event) => reporter.event(event), {
      diagnostics: (line) => io.stderr.write(line),
    });
    reporter.result(copySummary(describe(args.source), describe(args.target), result));
    return EXIT_OK;
  } catch (thrown) {
    if (thrown instanceof UsageError) throw thrown;
    const error = toReplicationError(thrown);
    reporter.error(error.code, error.message);
    return EXIT_FAILED;
  } finally {
    reporter.close();
  }
}

/**
 * The commands. `sync`, `status` and `config` are loaded on first use: they bring AWS SDK clients and the schema
 * library that `copy` does not need, and start-up time counts for every copy a user or a script runs.
 */
const COMMANDS: Record<string, Command> = {
  copy: copyCommand,
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sync: (argv, io) => (require('./sync-command') as typeof SyncCommand).syncCommand(argv, io),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  status: (argv, io) => (require('./status-command') as typeof StatusCommand).statusCommand(argv, io),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  config: (argv, io) => (require('./config-command') as typeof ConfigCommand).configCommand(argv, io),
};

const HELP: Record<string, string> = { copy: COPY_HELP, sync: SYNC_HELP, status: STATUS_HELP, config: CONFIG_HELP };

/**
 * undici parses HTTP with a WebAssembly module that V8 compiles on first use
 * and then re-optimizes in the background; at exit the process waits for that
 * background work (0.05 to 0.15 s here, more than a warm copy's requests
 * take). A short-lived command is better served by the baseline compiler
 * alone. Must run before the first connection; later calls change nothing.
 */
function compileWebAssemblyForShortRuns(): void {
  setFlagsFromString('--liftoff-only');
}

/**
 * The AWS SDK prints an 8-line NodeVersionSupportWarning on Node 20 when its first client is made: noise in every
 * AWS-touching command's output, which the user cannot act on from here (Node 20 is supported by this command). Its
 * own switch turns it off, unless the user set it.
 */
function quietAwsSdkNodeWarning(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

function unknownCommand(command: string, io: CliIo): number {
  io.stderr.write(
    `ecr-replicate: unknown command "${command}"${didYouMean(command, Object.keys(COMMANDS))}\n` +
      `Run "ecr-replicate --help" for the commands.\n`,
  );
  return EXIT_USAGE;
}

/** The `ecr-replicate` command line. Resolves to the exit status. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  compileWebAssemblyForShortRuns();
  quietAwsSdkNodeWarning();
  const [command, ...rest] = argv;
  if (command === undefined) {
    io.stderr.write(MAIN_HELP);
    return EXIT_USAGE;
  }
  if (command === '--version' || command === '-V' || command === 'version') {
    io.stdout.write(`ecr-replicate ${version()} (Node.js ${process.version})\n`);
    return EXIT_OK;
  }
  if (command === '-h' || command === '--help' || command === 'help') {
    const topic = rest[0];
    if (topic === undefined) {
      io.stdout.write(MAIN_HELP);
      return EXIT_OK;
    }
    if (!Object.hasOwn(HELP, topic)) return unknownCommand(topic, io);
    io.stdout.write(HELP[topic] as string);
    return EXIT_OK;
  }
  if (command.startsWith('-')) {
    io.stderr.write(
      `ecr-replicate: ${command} goes after a command: ecr-replicate <command> ${command} ...` +
        `\nRun "ecr-replicate --help" for the commands.\n`,
    );
    return EXIT_USAGE;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run === undefined) return unknownCommand(command, io);
  try {
    return await run(rest, io);
  } catch (error) {
    // By name too: the bundled command's sync, status and config modules are bundles of their own.
    if (error instanceof UsageError || (error instanceof Error && error.name === 'UsageError')) {
      io.stderr.write(`ecr-replicate ${command}: ${error.message}\nRun "ecr-replicate help ${command}" for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
