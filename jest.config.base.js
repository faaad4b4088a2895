'use strict';
/**
 * Jest settings shared by every package. Type checking is done by `tsc` in the
 * lint task, so ts-jest only transpiles (fast on two cores).
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  reporters: ['default', ['jest-junit', { outputDirectory: '<rootDir>/reports', outputName: 'junit.xml' }]],
  testTimeout: 30_000,
};
