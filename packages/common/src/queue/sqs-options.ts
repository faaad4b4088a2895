import type { Environment } from '../settings';

/**
 * Options for an SQS client of a deployed component. The SDK sends a request to the host of the queue URL it is
 * given (`useQueueUrlAsEndpoint`), and CloudFormation's queue URLs name the standard endpoint: with FIPS endpoints
 * on (AWS_USE_FIPS_ENDPOINT, which every SDK client reads), the client must use its own, FIPS, endpoint instead.
 */
export function sqsClientOptions(env: Environment = process.env): { useQueueUrlAsEndpoint?: boolean } {
  return (env.AWS_USE_FIPS_ENDPOINT ?? '').trim().toLowerCase() === 'true' ? { useQueueUrlAsEndpoint: false } : {};
}
