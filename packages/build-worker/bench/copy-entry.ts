/**
 * The benchmark's child process for our tool: the `ecr-replicate` command line (`main` of
 * src/cli/main.ts, bundled from source by esbuild) in a process of its own, so that its peak
 * RSS is its own. It ends the way bin/ecr-replicate.js does (exit code set, no forced exit).
 *
 * At exit it writes `{"maxRssKiB":N,"cpuSeconds":S}` (process.resourceUsage(): peak RSS in
 * KiB, user + system CPU time) to fd 3 when the parent opened it, else to stderr.
 */
import { writeSync } from 'node:fs';
import { main } from '../src/cli/main';

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
    process.stderr.write(`ecr-replicate: internal error: ${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
