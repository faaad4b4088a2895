/**
 * `npm run chaos [-- --seed N --operations N --tags N --fault-rate R --time-scale S]`: the
 * seeded chaos run on the local runner (see src/chaos.ts). Prints its seed
 * first (replay a failure with `--seed`), a report last; exits 1 when the
 * pipeline did not converge.
 */
import { randomInt } from 'node:crypto';
import { runChaos } from '../src/chaos';

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function numberOption(name: string, fallback: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) {
    process.stderr.write(`chaos: --${name} must be a non-negative number, not "${text}"\n`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<number> {
  const report = await runChaos({
    seed: numberOption('seed', randomInt(1, 2 ** 31)),
    operations: numberOption('operations', 1000),
    tags: numberOption('tags', 100),
    faultRate: numberOption('fault-rate', 0.05),
    timeScale: numberOption('time-scale', 0.05),
  });
  const ok =
    report.mismatches.length === 0 &&
    report.unsettled.length === 0 &&
    Object.values(report.deadLetters).every((n) => n === 0);
  if (!ok) {
    for (const line of [...report.mismatches, ...report.unsettled].slice(0, 20)) process.stdout.write(`  ${line}\n`);
    process.stdout.write(`chaos: replay with: npm run chaos -- --seed ${report.seed}\n`);
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
