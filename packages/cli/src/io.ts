import type { Writable } from 'node:stream';

/** Where a command writes and what environment it reads. */
export interface CliIo {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
  /** Ends a command that runs until stopped (`status --watch`); the bin aborts it on SIGINT and SIGTERM. */
  signal?: AbortSignal;
}

/** A command: its arguments (after the command name) to an exit status; throws UsageError for bad usage. */
export type Command = (argv: string[], io: CliIo) => Promise<number>;

/** Pads the columns of `rows` (the first is the header) to their widest cell; the last column is not padded. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return (
    rows
      .map((row) =>
        row
          .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
