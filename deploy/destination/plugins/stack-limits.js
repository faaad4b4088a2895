'use strict';
// The shared plugin (deploy/plugins/stack-limits.js); serverless loads
// local plugins only from inside the service directory.
module.exports = require('../../plugins/stack-limits');
