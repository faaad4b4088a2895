#!/usr/bin/env node
'use strict';
/* global AbortController -- Node's own */
// The ecr-replicate command line: the compiled package in a checkout (dist/, npm run build), else the bundle an
// installed tarball carries (bundle/, made by npm pack).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const compiled = join(__dirname, '..', 'dist', 'main.js');
const bundled = join(__dirname, '..', 'bundle', 'main.js');
const entry = existsSync(compiled) ? compiled : existsSync(bundled) ? bundled : undefined;
if (entry === undefined) {
  process.stderr.write(
    'ecr-replicate is not built yet: run "npm run setup" (or "npx turbo run build") at the repository root.\n',
  );
  process.exit(1);
}
// Connections to the registries of `copy SOURCE DESTINATION` open while the command loads (src/preconnect.ts).
try {
  require(join(entry, '..', 'preconnect.js')).preconnectCopy(process.argv.slice(2), process.env);
} catch {
  // only a head start
}
// Ctrl-C ends a command that runs until stopped (status --watch) cleanly; a second Ctrl-C kills it as usual.
const stop = new AbortController();
if (process.argv.includes('--watch')) {
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => stop.abort());
}
require(entry)
  .main(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signal: stop.signal,
  })
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`ecr-replicate: internal error: ${error && error.stack ? error.stack : error}\n`);
      process.exitCode = 1;
    },
  );
