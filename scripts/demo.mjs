#!/usr/bin/env node
// Runs the local demo (packages/local/demo/demo.ts): bundles it with esbuild
// into .demo/ and runs it. The demo drives the compiled handlers and starts
// the compiled worker (packages/build-worker/dist) in child processes, so the
// workspace must be built: `npm run demo` runs scripts/setup.sh first.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(join(root, 'packages/build-worker/dist/main.js'))) {
  process.stderr.write('demo: the workspace is not built yet: run "npm run setup" (or "npx turbo run build") first.\n');
  process.exit(1);
}
const outfile = join(root, '.demo', 'demo.cjs');
buildSync({
  entryPoints: [join(root, 'packages/local/demo/demo.ts')],
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
const demo = spawn(process.execPath, ['--enable-source-maps', outfile], { cwd: root, stdio: 'inherit' });
// Ctrl-C reaches the demo too (same process group): it stops its workers and servers and removes its files; wait for it.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => demo.kill(signal));
demo.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
