'use strict';
// The package's API (main): the compiled modules in a checkout, else the bundle of an installed tarball.
const { existsSync } = require('node:fs');
const { join } = require('node:path');

module.exports = existsSync(join(__dirname, 'dist', 'index.js'))
  ? require('./dist/index.js')
  : require('./bundle/main.js');
