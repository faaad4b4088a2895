'use strict';
/**
 * The esbuild settings of every deployed bundle: the four Lambda handlers
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
 */
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** Workspace packages the bundles import, mapped to their TypeScript entry points. */
const WORKSPACE_SOURCES = {
  '@ecr-replicate/common': path.join(REPO_ROOT, 'packages', 'common', 'src', 'index.ts'),
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
    alias: { ...WORKSPACE_SOURCES },
    plugins: [zodEnglishOnly],
    logLevel: 'warning',
  };
}

module.exports = { REPO_ROOT, WORKSPACE_SOURCES, esbuildOptions, zodEnglishOnly };
