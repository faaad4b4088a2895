import type { Context } from 'aws-lambda';

/** Fake key material: tests assert it never reaches the logs. */
export const FAKE_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzFAKESECRET';
export const FAKE_SESSION_TOKEN = 'IQoJb3JpZ2luX2VjEFAKESESSIONTOKENzzzzzzzzzzzzzzz';

/** What Lambda puts in every function's environment, with fake credentials. */
export function lambdaRuntimeEnvironment(): Record<string, string> {
  return {
    AWS_REGION: 'us-west-2',
    AWS_ACCESS_KEY_ID: 'ASIAFAKEFAKEFAKEFAKE',
    AWS_SECRET_ACCESS_KEY: FAKE_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN: FAKE_SESSION_TOKEN,
    AWS_LAMBDA_FUNCTION_NAME: 'ecr-replicate-test',
  };
}

export function lambdaContext(functionName = 'ecr-replicate-test'): Context {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-west-2:123456789012:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: '2026/11/16/[$LATEST]abcdef',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
