'use strict';
/**
 * The esbuild settings of every deployed bundle: the Lambda handlers
 * (through serverless-esbuild, see deploy/esbuild.config.js) and the worker
 * CodeBuild runs (deploy/plugins/worker-artifact.js).
 *
 * - Everything is bundled: @aws-sdk/*, Powertools, middy (ES modules only,
 *   turned into CommonJS here) and the workspace packages, which are taken
 *   from their TypeScript sources, so packaging needs no prior `tsc` build.
 * - CommonJS for Node.js 20 (the code must run on 20; Lambda runs 22).
 * - Minified with names kept (error classes are told apart by name), with
 *   external source maps without sources (NODE_OPTIONS=--enable-source-maps
 *   turns stack traces back into TypeScript positions).
 * - The TypeScript settings esbuild applies are given here (tsconfigRaw), so
 *   that it reads no tsconfig.json: its lookup of the `extends` chain while it
 *   parses files in parallel sometimes left a module without its "use strict"
 *   (2 of 8 worker bundles differed), and a bundle must be the same bytes
 *   every time it is built (the CodeBuild source is checked by its hash).
 */
const fs = require('node:fs');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const WORKSPACE_SCOPE = '@ecr-replicate/';

/**
 * The entry points a workspace package declares (package.json `exports`, else
 * `main`), mapped to their TypeScript sources: `@ecr-replicate/common/state`
 * → packages/common/src/state/index.ts for `"./state": "./dist/state/index.js"`.
 * Undefined when no packages/<name> directory holds that package.
 */
function workspaceEntryPoints(packageName) {
  if (!packageName.startsWith(WORKSPACE_SCOPE)) return undefined;
  const root = path.join(REPO_ROOT, 'packages', packageName.slice(WORKSPACE_SCOPE.length));
  let manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (manifest.name !== packageName) return undefined;
  const declared =
    manifest.exports === undefined
      ? { '.': manifest.main || './dist/index.js' }
      : typeof manifest.exports === 'string'
        ? { '.': manifest.exports }
        : manifest.exports;
  const entries = {};
  for (const [subpath, target] of Object.entries(declared)) {
    const built =
      typeof target === 'string'
        ? target
        : target && (target.require || target.node || target.default || target.import);
    const match = typeof built === 'string' ? /^(?:\.\/)?dist\/(.+)\.js$/.exec(built) : null;
    if (match === null) continue;
    const importPath = subpath === '.' ? packageName : `${packageName}${subpath.slice(1)}`;
    entries[importPath] = path.join(root, 'src', `${match[1]}.ts`);
  }
  return entries;
}

/**
 * Resolves the workspace packages (`@ecr-replicate/<name>` and the subpaths it
 * exports) to their TypeScript sources, so packaging needs no `tsc` build.
 */
const workspaceSources = {
  name: 'workspace-sources',
  setup(build) {
    const cache = new Map();
    build.onResolve({ filter: /^@ecr-replicate\/[^/]+/ }, (args) => {
      const packageName = args.path.split('/').slice(0, 2).join('/');
      if (!cache.has(packageName)) cache.set(packageName, workspaceEntryPoints(packageName));
      const entries = cache.get(packageName);
      if (entries === undefined) return undefined;
      const source = entries[args.path];
      if (source === undefined)
        return {
          errors: [{ text: `"${args.path}" is not an entry point ${packageName} exports (package.json "exports")` }],
        };
      return { path: source };
    });
  },
};

/**
 * zod 4 re-exports every message locale (`z.locales`), about 270 KB of a
 * bundle that only ever uses English. This plugin resolves zod's locale
 * index to English alone. When zod's layout changes it simply stops
 * matching and the bundle is larger, never broken.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!/[\\/]zod[\\/]v4[\\/](classic|core)$/.test(args.resolveDir)) return undefined;
      return { path: path.join(args.resolveDir, '..', 'locales', 'index.js'), namespace: 'zod-english-only' };
    });
    build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(path.join(path.dirname(args.path), 'en.js'))};\n`,
      resolveDir: path.dirname(args.path),
      loader: 'js',
    }));
  },
};

/** esbuild options shared by every bundle (no entry points or output paths). */
function esbuildOptions() {
  return {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // ES module builds first: they tree-shake (the AWS SDK clients shrink by a third).
    mainFields: ['module', 'main'],
    minify: true,
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    // What tsconfig.base.json means to esbuild: strict (every module "use strict"), ES2022 class fields.
    tsconfigRaw: { compilerOptions: { alwaysStrict: true, useDefineForClassFields: true } },
    plugins: [workspaceSources, zodEnglishOnly],
    logLevel: 'warning',
  };
}

module.exports = { REPO_ROOT, esbuildOptions, workspaceEntryPoints, workspaceSources, zodEnglishOnly };
