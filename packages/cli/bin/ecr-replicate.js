#!/usr/bin/env node
'use strict';
// The ecr-replicate command line; runs the compiled package (npm run build).
let cli;
try {
  cli = require('../dist/main.js');
} catch (error) {
  if (error && error.code === 'MODULE_NOT_FOUND' && String(error.message).includes('dist/main')) {
    process.stderr.write(
      'ecr-replicate is not built yet: run "npm run setup" (or "npx turbo run build") at the repository root.\n',
    );
    process.exit(1);
  }
  throw error;
}
cli.main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`ecr-replicate: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 1;
  },
);
