'use strict';
/**
 * The stubs, at the SDK client boundary, of the two AWS calls of the worker code that have no local server, with
 * aws-sdk-client-mock on the very client classes the worker code loads (`load` resolves a module as the worker code
 * does). Used by worker-stubs.cjs in each worker build's process, and by the local runner for the copy Lambda, which
 * runs in its own process:
 *
 * - ECR GetAuthorizationToken answers `token` (base64 of `AWS:<password>`, the password of the destination registry's
 *   htpasswd). For the destination region it insists on the access key of the destination secret, as the other
 *   partition would.
 * - Secrets Manager GetSecretValue answers `secretJson` for the secret `secretId()` names, and
 *   ResourceNotFoundException for any other.
 *
 * Returns a function that removes the stubs.
 */
function installAwsStubs({ token, secretJson, destinationRegion, secretId, load }) {
  const { mockClient } = load('aws-sdk-client-mock');
  const { ECRClient, GetAuthorizationTokenCommand } = load('@aws-sdk/client-ecr');
  const { SecretsManagerClient, GetSecretValueCommand } = load('@aws-sdk/client-secrets-manager');

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

  const ecr = mockClient(ECRClient);
  ecr
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

  const secrets = mockClient(SecretsManagerClient);
  secrets
    .onAnyCommand()
    .rejects(serviceError('UnsupportedOperation', 'the local runner stubs only GetSecretValue'))
    .on(GetSecretValueCommand)
    .callsFake(async (input) => {
      if (input.SecretId !== secretId()) {
        throw serviceError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      }
      return { Name: input.SecretId, SecretString: secretJson, VersionId: 'local' };
    });

  return () => {
    ecr.restore();
    secrets.restore();
  };
}

module.exports = { installAwsStubs };
