/**
 * The command installable on its own: `npm pack` of this package gives a self-contained tarball (bundled, no
 * dependencies) that `npm install -g` accepts, and the installed command runs --version, a copy, `config check`
 * and a `sync --dry-run` between real registries. The same script runs in CI (.ci/run) after the tests.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const SCRIPT = join(__dirname, '..', '..', 'scripts', 'packed-smoke.mjs');

it('npm pack gives a tarball that npm install -g accepts and whose command copies', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [SCRIPT], { timeout: 170_000 });
  expect(stdout).toMatch(/npm pack: ecr-replicate-cli-[\d.]+\.tgz/);
  expect(stdout).toMatch(/npm install -g --prefix .*: ecr-replicate \d+\.\d+\.\d+ \(Node\.js v/);
  expect(stdout).toMatch(
    /copy: 127\.0\.0\.1:\d+\/smoke\/app:v1 -> 127\.0\.0\.1:\d+\/smoke\/app:v1 sha256:[0-9a-f]{64}/,
  );
  expect(stdout).toContain('packed-smoke: OK');
}, 180_000);
