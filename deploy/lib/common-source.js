'use strict';
/**
 * The few pieces of @ecr-replicate/common the deployment configuration
 * needs (the replication configuration's schema, the partitions), loaded
 * from their TypeScript sources through an in-memory esbuild bundle, so that
 * `sls package` validates exactly like the Lambdas do and needs no prior
 * `tsc` build.
 */
const path = require('node:path');
const Module = require('node:module');
const esbuild = require('esbuild');
const { REPO_ROOT } = require('./esbuild-options');

const COMMON_SRC = path.join(REPO_ROOT, 'packages', 'common', 'src');

let loaded;

/**
 * `{ parseReplicationConfig, destinationScope, PARTITION_NAMES, findPartitionOfRegion, ecrHost, isValidationError,
 * parseApiQuotas, formatApiQuotas }`
 */
function loadCommon() {
  if (loaded) return loaded;
  const result = esbuild.buildSync({
    stdin: {
      contents: [
        "export { parseReplicationConfig } from './models/config';",
        "export { destinationScope } from './rules/destination-scope';",
        "export { PARTITION_NAMES, findPartitionOfRegion } from './registry/partition';",
        "export { ecrHost } from './registry/ecr-host';",
        "export { ValidationError } from './errors';",
        "export { parseApiQuotas, formatApiQuotas } from './quotas';",
      ].join('\n'),
      resolveDir: COMMON_SRC,
      sourcefile: 'deploy-common-entry.ts',
      loader: 'ts',
    },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    write: false,
    logLevel: 'silent',
  });
  const filename = path.join(COMMON_SRC, 'deploy-common-entry.js');
  const mod = new Module(filename, module);
  mod.filename = filename;
  mod.paths = Module._nodeModulePaths(COMMON_SRC);
  mod._compile(result.outputFiles[0].text, filename);
  loaded = mod.exports;
  return loaded;
}

module.exports = { loadCommon };
