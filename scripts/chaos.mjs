#!/usr/bin/env node
// Runs the seeded chaos run (packages/local/chaos/chaos.ts) with the arguments given (--seed N to replay).
import { runLocal } from './lib/run-local.mjs';

runLocal({
  name: 'chaos',
  entry: 'packages/local/chaos/chaos.ts',
  args: process.argv.slice(2),
  howToBuild: '"npx turbo run build"',
});
