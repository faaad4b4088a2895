/**
 * The benchmark's child process for our tool: the `ecr-replicate` command line as users run
 * it (the compiled package, `dist/main.js`, loaded at run time as bin/ecr-replicate.js
 * loads it: its start-up cost is part of every copy), in a process of its own, so that its
 * peak RSS is its own. It ends the way bin/ecr-replicate.js does (exit code set, no forced exit).
 *
 * At exit it writes `{"maxRssKiB":N,"cpuSeconds":S}` (process.resourceUsage(): peak RSS in
 * KiB, user + system CPU time) to fd 3 when the parent opened it, else to stderr.
 */
import { writeSync } from 'node:fs';
import { join } from 'node:path';
import type * as Cli from '../src/main';

// A computed path, so that esbuild leaves the CLI out of this bundle.
const cliPath = join(__dirname, '..', '..', '..', 'dist', 'main.js');
// As bin/ecr-replicate.js does first: the connections to both registries open while the command loads.
// eslint-disable-next-line @typescript-eslint/no-require-imports
(require(join(cliPath, '..', 'preconnect.js')) as { preconnectCopy: (argv: string[]) => void }).preconnectCopy(
  process.argv.slice(2),
);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { main } = require(cliPath) as typeof Cli;

function reportPeakRss(): void {
  const usage = process.resourceUsage();
  const line = `${JSON.stringify({ maxRssKiB: usage.maxRSS, cpuSeconds: (usage.userCPUTime + usage.systemCPUTime) / 1e6 })}\n`;
  try {
    writeSync(3, line);
  } catch {
    process.stderr.write(`bench: ${line}`);
  }
}

process.once('exit', reportPeakRss);

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `ecr-replicate: internal error: ${error instanceof Error && error.stack ? error.stack : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
