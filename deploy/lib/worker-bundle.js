'use strict';
/**
 * Bundles the worker CodeBuild runs (packages/build-worker/src/main.ts)
 * into one zip: `worker.js` (CommonJS, every dependency inside) and its
 * source map. CodeBuild unpacks the zip as its S3 source and runs
 * `node worker.js`.
 */
const path = require('node:path');
const { Buffer } = require('node:buffer');
const { createHash } = require('node:crypto');
const esbuild = require('esbuild');
const { esbuildOptions } = require('./esbuild-options');
const { createZip } = require('./zip');

const WORKER_SCRIPT = 'worker.js';

/** Bundles `entry` (absolute path); resolves to `{ zip, files: [{ name, size, sha256 }], warnings }`. */
async function bundleWorker(entry) {
  const result = await esbuild.build({
    ...esbuildOptions(),
    absWorkingDir: path.dirname(entry),
    entryPoints: [entry],
    outfile: path.join(path.dirname(entry), WORKER_SCRIPT),
    write: false,
  });
  const files = result.outputFiles
    .map((file) => ({ name: path.basename(file.path), data: Buffer.from(file.contents) }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  if (!files.some((file) => file.name === WORKER_SCRIPT))
    throw new Error(`esbuild produced no ${WORKER_SCRIPT} for ${entry}`);
  return {
    zip: createZip(files),
    files: files.map((file) => ({
      name: file.name,
      size: file.data.length,
      sha256: createHash('sha256').update(file.data).digest('hex'),
    })),
    warnings: result.warnings,
  };
}

module.exports = { WORKER_SCRIPT, bundleWorker };
