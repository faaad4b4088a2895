#!/usr/bin/env node
// Runs the pipeline benchmark (packages/local/bench/pipeline.ts) with the arguments given (--cases a,b --scale X --quick).
import { runLocal } from './lib/run-local.mjs';

runLocal({
  name: 'bench-pipeline',
  entry: 'packages/local/bench/pipeline.ts',
  args: process.argv.slice(2),
  howToBuild: '"npx turbo run build"',
});
