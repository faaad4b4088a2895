import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * The Python tools some stack tests use: cfn-lint (CloudFormation's linter)
 * and moto_server (an AWS emulator). Installed on the team's machines; a test
 * that needs one and does not find it is skipped with a visible warning.
 */

/** Whether `command` runs (`--help` exits 0: moto_server has no --version). */
export function available(command: string): boolean {
  const result = spawnSync(command, ['--help'], { encoding: 'utf8', timeout: 60_000 });
  return result.status === 0;
}

/** Logs a warning that stands out in the test output. */
export function warnSkipped(tool: string, what: string): void {
  console.warn(
    `\n*** ${tool} is not installed: ${what} SKIPPED (pip install ${tool === 'moto_server' ? '"moto[server]"' : tool}) ***\n`,
  );
}

export interface LintProblem {
  file: string;
  rule: string;
  level: string;
  message: string;
  line: number;
}

/** Runs cfn-lint over `files` for `region`; every error, warning and informational finding. */
export function cfnLint(files: string[], region: string): LintProblem[] {
  const result = spawnSync('cfn-lint', ['--format', 'json', '--regions', region, '--', ...files], {
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  // Exit codes: 0 clean, 2 errors, 4 warnings, 8 informational (or-ed); anything else is a failure to run.
  if (result.status === null || (result.status & ~(2 | 4 | 8)) !== 0)
    throw new Error(`cfn-lint failed to run (exit ${result.status}): ${result.stderr}`);
  const findings = JSON.parse(result.stdout || '[]') as Array<{
    Filename: string;
    Level: string;
    Message: string;
    Rule: { Id: string };
    Location: { Start: { LineNumber: number } };
  }>;
  return findings.map((f) => ({
    file: f.Filename,
    rule: f.Rule.Id,
    level: f.Level,
    message: f.Message,
    line: f.Location.Start.LineNumber,
  }));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Moto {
  url: string;
  stop(): Promise<void>;
}

/** Starts moto_server on a free loopback port and waits until it answers. */
export async function startMoto(timeoutMs = 60_000): Promise<Moto> {
  const port = await freePort();
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-20_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited (${child.exitCode}): ${log}`);
    try {
      const response = await fetch(`${url}/moto-api/`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${url} within ${timeoutMs} ms: ${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The update templates of `packages`, linted per region: every finding, with its region. */
export function lintPackagedTemplates(
  packages: Array<{ dir: string; region: string }>,
): Array<LintProblem & { region: string }> {
  const byRegion = new Map<string, string[]>();
  for (const item of packages) {
    const files = byRegion.get(item.region) ?? [];
    files.push(`${item.dir}/cloudformation-template-update-stack.json`);
    byRegion.set(item.region, files);
  }
  return [...byRegion].flatMap(([region, files]) => cfnLint(files, region).map((problem) => ({ ...problem, region })));
}
