import type { Writable } from 'node:stream';
import { toReplicationError } from '@ecr-replicate/common';
import { copySummary, JsonReporter, TerminalReporter, type Reporter } from './reporter';
import { COPY_HELP, describe, parseCopyArguments, runCopy } from './copy-command';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, MAIN_HELP, UsageError } from './usage';

export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

function reporterFor(io: CliIo, json: boolean): Reporter {
  return json || !io.stdout.isTTY || !io.stderr.isTTY ? new JsonReporter(io.stdout) : new TerminalReporter(io.stdout, io.stderr);
}

/** The `ecr-replicate` command line. Resolves to the exit status. */
export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, env: process.env }): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    (command === undefined ? io.stderr : io.stdout).write(MAIN_HELP);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command !== 'copy') {
    io.stderr.write(`ecr-replicate: unknown command "${command}"\n\n${MAIN_HELP}`);
    return EXIT_USAGE;
  }
  let args;
  try {
    args = parseCopyArguments(rest, io.env);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`ecr-replicate copy: ${error.message}\nRun "ecr-replicate copy --help" for usage.\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
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
