// Bundles the command into bundle/ for `npm pack`: a tarball with no dependencies that `npm install -g` accepts.
//
// Start-up counts for every copy, so the copy path's bundle (bundle/main.js) holds only what a copy runs: the
// commands it loads on demand (sync, status, config) and the AWS SDK clients that ECR hosts load on first use are
// bundles of their own beside it, required by relative path at the moment they are needed, as dist/ does.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'bundle');
const LAZY_COMMANDS = ['sync-command', 'status-command', 'config-command'];
const LAZY_SDKS = ['@aws-sdk/client-ecr', '@aws-sdk/client-secrets-manager'];
const vendorFile = (name) => `vendor/${name.replace(/^@aws-sdk\//, '')}.js`;

/** Keeps the lazy modules out of a bundle: they stay `require()`s of files beside it. */
const lazy = (prefix) => ({
  name: 'lazy-modules',
  setup(b) {
    b.onResolve({ filter: /^\.\/(sync|status|config)-command$/ }, (args) => ({
      path: `${prefix}${args.path.slice(2)}.js`,
      external: true,
    }));
    b.onResolve({ filter: /^@aws-sdk\/client-(ecr|secrets-manager)$/ }, (args) => ({
      path: `${prefix}${vendorFile(args.path)}`,
      external: true,
    }));
  },
});

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  logLevel: 'warning',
  legalComments: 'none',
  // The AWS SDK's optional runtime paths the command never takes.
  external: ['aws-crt', '@aws-sdk/signature-v4-crt'],
};

rmSync(out, { recursive: true, force: true });
await build({
  ...common,
  entryPoints: [join(root, 'src/main.ts')],
  outfile: join(out, 'main.js'),
  plugins: [lazy('./')],
});
await Promise.all([
  // What bin/ecr-replicate.js runs before it loads the command: node:net and a few lines, nothing more.
  build({ ...common, entryPoints: [join(root, 'src/preconnect.ts')], outfile: join(out, 'preconnect.js') }),
  ...LAZY_COMMANDS.map((name) =>
    build({
      ...common,
      entryPoints: [join(root, `src/${name}.ts`)],
      outfile: join(out, `${name}.js`),
      plugins: [lazy('./')],
    }),
  ),
  ...LAZY_SDKS.map((name) =>
    build({
      ...common,
      stdin: { contents: `module.exports = require(${JSON.stringify(name)});`, resolveDir: root },
      outfile: join(out, vendorFile(name)),
    }),
  ),
]);
