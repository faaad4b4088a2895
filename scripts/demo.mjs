#!/usr/bin/env node
// Runs the local demo (packages/local/demo/demo.ts); `npm run demo` runs scripts/setup.sh first.
import { runLocal } from './lib/run-local.mjs';

runLocal({
  name: 'demo',
  entry: 'packages/local/demo/demo.ts',
  args: [],
  howToBuild: '"npm run setup" (or "npx turbo run build")',
});
