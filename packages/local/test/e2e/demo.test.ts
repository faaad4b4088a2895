/**
 * The README's first command runs the demo (`npm run demo` = set-up, then scripts/demo.mjs). This runs the same
 * script as a user does, on the built workspace, and holds it to what it promises: exit 0 and every tag equal.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '..', '..', '..', '..');

it('runs the whole pipeline on local defaults and ends with every destination tag equal to the source', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'demo.mjs')], {
    cwd: ROOT,
    timeout: 240_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  expect(stdout).toMatch(/0 dead letters/);
  expect(stdout).toMatch(/Every destination tag equals the source: 4 tags/);
}, 300_000);
