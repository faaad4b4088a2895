#!/usr/bin/env node
// Adds up the jest JSON results every package wrote (reports/jest-results.json)
// and prints one closing line, "N passed, N failed[, N skipped]". Exits 1 when
// a test failed, a package wrote no results, or no test ran at all. PACKED_SMOKE=passed|failed adds the
// packed command's check that .ci/run makes after the tests.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const packagesDir = join(root, 'packages');
let passed = 0;
let failed = 0;
let skipped = 0;
const missing = [];
for (const name of readdirSync(packagesDir).sort()) {
  const manifest = join(packagesDir, name, 'package.json');
  if (!existsSync(manifest) || JSON.parse(readFileSync(manifest, 'utf8')).scripts?.test === undefined) continue;
  const file = join(packagesDir, name, 'reports', 'jest-results.json');
  if (!existsSync(file)) {
    missing.push(name);
    continue;
  }
  const results = JSON.parse(readFileSync(file, 'utf8'));
  passed += results.numPassedTests;
  // Suites that failed to run (syntax error, crash) count as one failure each.
  failed += results.numFailedTests + results.numRuntimeErrorTestSuites;
  skipped += results.numPendingTests + results.numTodoTests;
  console.log(
    `${name}: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numRuntimeErrorTestSuites} suites crashed`,
  );
}
for (const name of missing) console.log(`${name}: no test results (its tests did not run)`);
failed += missing.length;
// Checks CI runs outside jest (.ci/run): the packed command's smoke test.
if (process.env.PACKED_SMOKE === 'passed' || process.env.PACKED_SMOKE === 'failed') {
  console.log(`packed command (npm pack, npm install -g, --version, a copy): ${process.env.PACKED_SMOKE}`);
  if (process.env.PACKED_SMOKE === 'passed') passed += 1;
  else failed += 1;
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
