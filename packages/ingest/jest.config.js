'use strict';
const base = require('../../jest.config.base.js');

/**
 * The handlers import @middy/core, which ships only ES modules. Node runs them
 * (require of ES modules, Node >= 20.19), but Jest's CommonJS loader cannot, so
 * the tests compile that one package to CommonJS with esbuild.
 */
module.exports = {
  ...base,
  transform: {
    ...base.transform,
    '/node_modules/@middy/core/.+\\.js$': '<rootDir>/test/support/esm-to-cjs.js',
  },
  transformIgnorePatterns: ['/node_modules/(?!@middy/core/)'],
};
