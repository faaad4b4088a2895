// Bundles one program of packages/local with esbuild into .<name>/ and runs it with the given arguments. The
// programs drive the compiled handlers and start the compiled worker (packages/build-worker/dist), so the workspace
// must be built first. Ctrl-C reaches the program too (same process group): it stops its workers and servers; this
// waits for it and exits with its code.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** @param {{ name: string, entry: string, args: string[], howToBuild: string }} program */
export function runLocal({ name, entry, args, howToBuild }) {
  if (!existsSync(join(root, 'packages/build-worker/dist/main.js'))) {
    process.stderr.write(`${name}: the workspace is not built yet: run ${howToBuild} first.\n`);
    process.exit(1);
  }
  const outfile = join(root, `.${name}`, `${name}.cjs`);
  buildSync({
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile,
    sourcemap: 'inline',
    // dynalite's storage is a native module: it is loaded from node_modules at run time.
    external: ['dynalite'],
    logLevel: 'error',
  });
  const child = spawn(process.execPath, ['--enable-source-maps', outfile, ...args], { cwd: root, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
}
