import type * as StatusCommand from './status-command';
import type * as SyncCommand from './sync-command';
import { setFlagsFromString } from 'node:v8';
import { toReplicationError } from '@ecr-replicate/common/core';
import { copySummary, JsonReporter, TerminalReporter, type Reporter } from './reporter';
import { COPY_HELP, describe, parseCopyArguments, runCopy } from './copy-command';
import type { CliIo, Command } from './io';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, MAIN_HELP, UsageError } from './usage';

export type { CliIo } from './io';

function reporterFor(io: CliIo, json: boolean): Reporter {
  return json || !io.stdout.isTTY || !io.stderr.isTTY
    ? new JsonReporter(io.stdout)
    : new TerminalReporter(io.stdout, io.stderr);
}

/** `ecr-replicate copy`: the exit status. */
async function copyCommand(argv: string[], io: CliIo): Promise<number> {
  const args = parseCopyArguments(argv, io.env);
  if (args === 'help') {
    io.stdout.write(COPY_HELP);
    return EXIT_OK;
  }
  const reporter = reporterFor(io, args.json);
  try {
    const result = await runCopy(args, (event) => reporter.event(event));
    reporter.result(copySummary(describe(args.source), describe(args.destination), result));
    return EXIT_OK;
  } catch (thrown) {
    const error = toReplicationError(thrown);
    reporter.error(error.code, error.message);
    return EXIT_FAILED;
  } finally {
    reporter.close();
  }
}

/**
 * The commands. `sync` and `status` are loaded on first use: they bring AWS
 * SDK clients that `copy` does not need, and start-up time counts for every
 * copy a user or a script runs.
 */
const COMMANDS: Record<string, Command> = {
  copy: copyCommand,
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  sync: (argv, io) => (require('./sync-command') as typeof SyncCommand).syncCommand(argv, io),
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  status: (argv, io) => (require('./status-command') as typeof StatusCommand).statusCommand(argv, io),
};

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

/** The `ecr-replicate` command line. Resolves to the exit status. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env },
): Promise<number> {
  compileWebAssemblyForShortRuns();
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout).write(MAIN_HELP);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (run === undefined) {
    io.stderr.write(`ecr-replicate: unknown command "${command}"\n\n${MAIN_HELP}`);
    return EXIT_USAGE;
  }
  try {
    return await run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`ecr-replicate ${command}: ${error.message}\nRun "ecr-replicate ${command} --help" for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
