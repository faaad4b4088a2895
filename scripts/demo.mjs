#!/usr/bin/env node
// Runs the local demo (packages/build-worker/demo): bundles it with esbuild
// into .demo/ and runs it. `npm run demo` runs scripts/setup.sh first.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = join(root, '.demo', 'copy-demo.cjs');
buildSync({
  entryPoints: [join(root, 'packages/build-worker/demo/copy-demo.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  outfile,
  sourcemap: 'inline',
  logLevel: 'warning',
});
const demo = spawnSync(process.execPath, ['--enable-source-maps', outfile], { cwd: root, stdio: 'inherit' });
process.exit(demo.status ?? 1);
