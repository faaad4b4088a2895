/**
 * `npm run bench:pipeline [-- --cases latency,handoff --scale X --quick]`: the pipeline on the local runner with its
 * executor models (the copy Lambda's scaled time limit and cold start, CodeBuild's provisioning delay, concurrent-build
 * and queue limits, the destination's quotas), one case after another. Every figure is printed with the model inputs
 * it was measured under and the goal it is compared with (PASS / MISS); the exit status is 1 when a goal was missed.
 *
 * Each case runs in a child process (one local runner per process); a case with several runners runs each part in a
 * child of its own (pipeline/child.ts). A case is a module `pipeline/<name>.ts` exporting `run(options)` (and `parts`
 * when it has some), registered below.
 */
import { writeFileSync } from 'node:fs';
import { runChild } from './pipeline/child';
import * as backfill from './pipeline/backfill';
import * as handoff from './pipeline/handoff';
import * as latency from './pipeline/latency';
import * as scan from './pipeline/scan';
import { meets, type BenchOptions, type CaseReport, type Figure } from './pipeline/report';

interface CaseModule {
  run(options: BenchOptions): Promise<CaseReport>;
  parts?: Record<string, (options: never) => Promise<unknown>>;
}

/** The cases, in the order they run (one line each). */
const CASES: Record<string, CaseModule> = {
  latency,
  handoff,
  backfill,
  scan,
};

function option(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

function fail(message: string): never {
  process.stderr.write(`bench:pipeline: ${message}\n`);
  process.exit(2);
}

async function load(name: string): Promise<CaseModule> {
  const found = CASES[name];
  if (found === undefined) fail(`no case "${name}" (cases: ${Object.keys(CASES).join(', ')})`);
  return found;
}

function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  const digits = Math.abs(value) >= 100 || Number.isInteger(value) ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)}${unit === '' ? '' : ` ${unit}`}`;
}

function print(report: CaseReport): boolean {
  const out = (line = ''): boolean => process.stdout.write(`${line}\n`);
  out();
  out(`== ${report.name}: ${report.title}`);
  out('   model:');
  for (const [name, value] of Object.entries(report.model)) out(`     ${name}: ${value}`);
  const rows = report.figures.map((figure: Figure) => {
    const verdict = meets(figure);
    const goal = figure.goal === undefined ? '' : `${figure.goal.op} ${formatValue(figure.goal.value, figure.unit)}`;
    return [
      figure.name,
      formatValue(figure.value, figure.unit),
      goal,
      verdict === undefined ? '' : verdict ? 'PASS' : 'MISS',
      figure.note ?? '',
    ];
  });
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => (r[i] as string).length), 0));
  for (const row of rows) {
    const cells = row
      .slice(0, 4)
      .map((cell, i) => (i === 1 ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number)));
    out(`   ${cells.join('  ')}${row[4] === '' ? '' : `  (${row[4]})`}`.trimEnd());
  }
  for (const note of report.notes ?? []) out(`   note: ${note}`);
  return report.figures.every((figure) => meets(figure) !== false);
}

async function main(): Promise<number> {
  const options = JSON.parse(option('options') ?? '{}') as BenchOptions;
  const out = option('out');
  const part = option('part');
  if (part !== undefined) {
    // A child: one part of a case.
    const [name = '', partName = ''] = part.split(':');
    const parts = (await load(name)).parts ?? {};
    const run = parts[partName];
    if (run === undefined) fail(`case "${name}" has no part "${partName}"`);
    const result = await run(options as never);
    if (out !== undefined) writeFileSync(out, JSON.stringify(result));
    return 0;
  }
  const single = option('case');
  if (single !== undefined) {
    // A child: one case.
    const report = await (await load(single)).run(options);
    if (out !== undefined) writeFileSync(out, JSON.stringify(report));
    return 0;
  }

  const names = (option('cases') ?? Object.keys(CASES).join(','))
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const name of names) await load(name); // unknown names fail before anything runs
  const scale = option('scale');
  const benchOptions: BenchOptions = {
    ...(scale === undefined ? {} : { timeScale: Number(scale) }),
    ...(process.argv.includes('--quick') ? { quick: true } : {}),
  };
  if (benchOptions.timeScale !== undefined && !(benchOptions.timeScale > 0 && benchOptions.timeScale <= 1))
    fail('--scale must be a number in (0, 1]');
  process.stdout.write(`bench:pipeline: cases ${names.join(', ')} (each in a process of its own)\n`);
  let allMet = true;
  for (const name of names) {
    const started = Date.now();
    try {
      const report = await runChild<CaseReport>(['--case', name], benchOptions, `case ${name}`);
      allMet = print(report) && allMet;
      process.stdout.write(`   (case ran ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
    } catch (error) {
      allMet = false;
      process.stdout.write(`\n== ${name}: FAILED to run: ${error instanceof Error ? error.message : String(error)}\n`);
    }
  }
  process.stdout.write(`\nbench:pipeline: ${allMet ? 'every goal met' : 'some goals MISSED'}\n`);
  return allMet ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `bench:pipeline: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  },
);
