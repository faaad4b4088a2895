import { PassThrough } from 'node:stream';
import { main } from '../../src';

/** What one in-process run of the command line printed, and its exit status. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ecr-replicate ARGS` in this process, as on a terminal when `tty` is set. */
export async function runCli(
  args: string[],
  options: { env?: NodeJS.ProcessEnv; tty?: boolean } = {},
): Promise<CliRun> {
  const stdout = Object.assign(new PassThrough(), options.tty ? { isTTY: true } : {});
  const stderr = Object.assign(new PassThrough(), options.tty ? { isTTY: true, columns: 200 } : {});
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await main(args, { stdout, stderr, env: options.env ?? {} });
  return { code, stdout: out, stderr: err };
}

/** The JSON lines a run printed on stdout. */
export function jsonLinesOf(run: CliRun): Array<Record<string, unknown>> {
  return run.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
