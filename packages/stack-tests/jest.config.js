'use strict';
const base = require('../../jest/config.base.js');

/**
 * Packaging a stack takes seconds: each suite packages its runs two at a
 * time in beforeAll, and the suites run one after the other (one worker), so
 * that no more than two packagings ever share the two cores.
 */
module.exports = { ...base, testTimeout: 60_000, maxWorkers: 1 };
