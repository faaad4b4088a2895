'use strict';
/**
 * Jest settings shared by every package. Type checking is done by `tsc` in the
 * lint task, so ts-jest only transpiles (fast on two cores). @middy/core ships
 * only ES modules: Node runs them, Jest's CommonJS loader cannot, so that one
 * package is compiled to CommonJS with esbuild.
 */
const path = require('node:path');

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }],
    '/node_modules/@middy/core/.+\\.js$': path.join(__dirname, 'esm-to-cjs.js'),
  },
  transformIgnorePatterns: ['/node_modules/(?!@middy/core/)'],
  moduleFileExtensions: ['ts', 'js', 'json'],
  reporters: ['default', ['jest-junit', { outputDirectory: '<rootDir>/reports', outputName: 'junit.xml' }]],
  testTimeout: 30_000,
};
