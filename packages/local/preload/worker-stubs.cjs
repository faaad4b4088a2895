'use strict';
/**
 * Loaded first in a local worker build (`node -r worker-stubs.cjs main.js`): stubs the worker's two AWS calls that
 * have no local server (aws-stubs.cjs) on the client classes the worker loads (resolved from the worker's own
 * directory):
 *
 * - ECR GetAuthorizationToken answers LOCAL_ECR_TOKEN (for the destination region, only to the destination secret's
 *   access key, LOCAL_DEST_REGION naming that region);
 * - Secrets Manager GetSecretValue answers LOCAL_DEST_SECRET_JSON for the secret DEST_SECRET_ID names.
 *
 * The LOCAL_* variables are test-only inputs: they are read here and removed from the environment before the worker
 * starts, and never logged.
 */
const path = require('node:path');
const { installAwsStubs } = require('./aws-stubs.cjs');

const workerDir = path.dirname(process.argv[1] || '.');
const fromWorker = (id) => require(require.resolve(id, { paths: [workerDir] }));

const token = process.env.LOCAL_ECR_TOKEN;
const secretJson = process.env.LOCAL_DEST_SECRET_JSON;
const destinationRegion = process.env.LOCAL_DEST_REGION;
delete process.env.LOCAL_ECR_TOKEN;
delete process.env.LOCAL_DEST_SECRET_JSON;
delete process.env.LOCAL_DEST_REGION;

if (token === undefined || secretJson === undefined) {
  process.stderr.write('worker-stubs: LOCAL_ECR_TOKEN and LOCAL_DEST_SECRET_JSON are required\n');
  process.exit(1);
}

installAwsStubs({
  token,
  secretJson,
  destinationRegion,
  secretId: () => process.env.DEST_SECRET_ID,
  load: fromWorker,
});
