#!/usr/bin/env node
// Runs the seeded chaos run (packages/local/chaos/chaos.ts): bundles it with
// esbuild into .chaos/ and runs it with the arguments given (--seed N to
// replay). It drives the compiled handlers and worker, so the workspace must
// be built (`npx turbo run build`).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(join(root, 'packages/build-worker/dist/worker/main.js'))) {
  process.stderr.write('chaos: the workspace is not built yet: run "npx turbo run build" first.\n');
  process.exit(1);
}
const outfile = join(root, '.chaos', 'chaos.cjs');
buildSync({
  entryPoints: [join(root, 'packages/local/chaos/chaos.ts')],
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
const chaos = spawn(process.execPath, ['--enable-source-maps', outfile, ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
// Ctrl-C reaches the run too (same process group): it stops its workers and servers; wait for it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => chaos.kill(signal));
chaos.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
