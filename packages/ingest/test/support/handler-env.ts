/**
 * Imported first by the handler tests: the handler module reads its settings
 * when it is loaded, as Lambda loads it at cold start.
 */
import { lambdaRuntimeEnvironment } from '@ecr-replicate/testing';

Object.assign(process.env, lambdaRuntimeEnvironment(), {
  REQUEST_QUEUE_URL: 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo',
  REPLICATION_CONFIG: JSON.stringify({ mapping: { prefixes: [{ from: 'team/', to: 'mirror/team/' }] } }),
  POWERTOOLS_LOG_LEVEL: 'DEBUG',
  POWERTOOLS_LOGGER_LOG_EVENT: 'true',
});
