import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The local runner is one per process (its handler modules read their environment once), so every run of it in the
 * bench is a process of its own: the bench's entry runs each case in a child, and a case that needs several runners
 * (a Lambda path and a CodeBuild-only one) runs each part in a child of its own with `runPart`.
 */

/** Runs `part` of case `name` (its module's `parts[part]`) in a child process of the bench and returns its result. */
export function runPart<T>(name: string, part: string, options: unknown): Promise<T> {
  return runChild<T>(['--part', `${name}:${part}`], options, `bench part ${name}:${part}`);
}

/** Runs the bench's own program (this bundle) in a child with `args`; resolves with what it wrote to `--out`. */
export async function runChild<T>(args: string[], options: unknown, what: string): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-child-'));
  const out = join(dir, 'result.json');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [...process.execArgv, process.argv[1] as string, ...args, '--options', JSON.stringify(options), '--out', out],
        { stdio: 'inherit' },
      );
      child.once('error', reject);
      child.once('exit', (exitCode) => resolve(exitCode));
    });
    if (code !== 0) throw new Error(`${what} failed (exit ${String(code)})`);
    return JSON.parse(readFileSync(out, 'utf8')) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
