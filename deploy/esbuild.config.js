'use strict';
/**
 * serverless-esbuild settings of the Lambda bundles (custom.esbuild.config):
 * the shared esbuild options (deploy/lib/esbuild-options.js) plus the
 * plugin's own: nothing left external, so every zip holds its whole program
 * and nothing is installed at packaging time.
 */
const { esbuildOptions } = require('./lib/esbuild-options');

module.exports = () => ({
  ...esbuildOptions(),
  exclude: [],
  external: [],
  packager: 'npm',
});
