'use strict';
/**
 * Loaded first in a local worker build (`node -r worker-stubs.cjs main.js`):
 * stubs, at the SDK client boundary, the two AWS calls of the worker that have
 * no local server, with aws-sdk-client-mock on the very client classes the
 * worker loads (resolved from the worker's own directory):
 *
 * - ECR GetAuthorizationToken answers LOCAL_ECR_TOKEN (base64 of
 *   `AWS:<password>`, the password of the destination registry's htpasswd).
 *   For the destination region (LOCAL_DEST_REGION) it insists on the access
 *   key of the destination secret, as the other partition would.
 * - Secrets Manager GetSecretValue answers LOCAL_DEST_SECRET_JSON for the
 *   secret DEST_SECRET_ID names, and ResourceNotFoundException for any other.
 *
 * The LOCAL_* variables are test-only inputs: they are read here and removed
 * from the environment before the worker starts, and never logged.
 */
const path = require('node:path');

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

const { mockClient } = fromWorker('aws-sdk-client-mock');
const { ECRClient, GetAuthorizationTokenCommand } = fromWorker('@aws-sdk/client-ecr');
const { SecretsManagerClient, GetSecretValueCommand } = fromWorker('@aws-sdk/client-secrets-manager');

function serviceError(name, message) {
  const error = new Error(message);
  error.name = name;
  error.$fault = 'client';
  error.$metadata = { httpStatusCode: 400 };
  return error;
}

const secretAccessKeyId = (() => {
  try {
    return JSON.parse(secretJson).accesskey;
  } catch {
    return undefined;
  }
})();

mockClient(ECRClient)
  .onAnyCommand()
  .rejects(serviceError('UnsupportedOperation', 'the local runner stubs only GetAuthorizationToken'))
  .on(GetAuthorizationTokenCommand)
  .callsFake(async (_input, getClient) => {
    const client = getClient();
    const region = await client.config.region();
    if (destinationRegion !== undefined && region === destinationRegion) {
      const credentials = await client.config.credentials();
      if (credentials.accessKeyId !== secretAccessKeyId) {
        throw serviceError('UnrecognizedClientException', 'The security token included in the request is invalid.');
      }
    }
    return {
      authorizationData: [
        {
          authorizationToken: token,
          expiresAt: new Date(Date.now() + 12 * 3600 * 1000),
          proxyEndpoint: `https://local.dkr.ecr.${region}.amazonaws.com`,
        },
      ],
    };
  });

mockClient(SecretsManagerClient)
  .onAnyCommand()
  .rejects(serviceError('UnsupportedOperation', 'the local runner stubs only GetSecretValue'))
  .on(GetSecretValueCommand)
  .callsFake(async (input) => {
    if (input.SecretId !== process.env.DEST_SECRET_ID) {
      throw serviceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    }
    return { Name: input.SecretId, SecretString: secretJson, VersionId: 'local' };
  });
