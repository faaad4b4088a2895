'use strict';
// The shared plugin (deploy/plugins/least-privilege.js); serverless loads
// local plugins only from inside the service directory.
module.exports = require('../../plugins/least-privilege');
