import {
  CopyLambdaSettings,
  BuildStateSettings,
  DispatchSettings,
  IngestSettings,
  RepairSettings,
  RetryForwardSettings,
  ScanSettings,
  SweepSettings,
  WorkerSettings,
  parseBuildStateSettings,
  parseCopyLambdaSettings,
  parseDispatchSettings,
  parseIngestSettings,
  parseRepairSettings,
  parseRetryForwardSettings,
  parseScanSettings,
  parseWorkerSettings,
  DEFAULT_DESTINATION_API_QUOTAS,
} from '../../src';
import { validationError } from '../fixtures';

const QUEUE_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-requests.fifo';
const RETRY_URL = 'https://sqs.us-west-2.amazonaws.com/123456789012/ecr-replicate-retries';

describe('ingest settings', () => {
  it('parses the queue URL and the configuration', () => {
    const settings = parseIngestSettings({
      REQUEST_QUEUE_URL: QUEUE_URL,
      REPLICATION_CONFIG: '{"deletes":true,"tags":{"include":["v*"]}}',
    });
    expect(settings.requestQueueUrl).toBe(QUEUE_URL);
    expect(settings.replicationConfig.deletes).toBe(true);
    expect(settings.replicationConfig.tags.include).toEqual([{ type: 'wildcard', pattern: 'v*' }]);
  });

  it('defaults the configuration when unset', () => {
    expect(parseIngestSettings({ REQUEST_QUEUE_URL: QUEUE_URL }).replicationConfig.taglessPushes).toBe(false);
  });

  it('names each bad variable and what is wrong, never the value', () => {
    const error = validationError(() =>
      parseIngestSettings({
        REQUEST_QUEUE_URL: 'not a url with-secret-ish-value',
        REPLICATION_CONFIG: '{"tags":{"include":["regex:("]}}',
      }),
    );
    expect(error.message).toContain('REQUEST_QUEUE_URL: must be an SQS queue URL');
    expect(error.message).toContain('REPLICATION_CONFIG: tags.include.0.pattern: is not a valid regular expression');
    expect(error.message).not.toContain('secret-ish');
    expect(error.message).not.toContain('regex:(');
  });

  it('reports a missing variable as required and malformed JSON as such', () => {
    const error = validationError(() => parseIngestSettings({ REPLICATION_CONFIG: '{nope' }));
    expect(error.message).toContain('REQUEST_QUEUE_URL: is required');
    expect(error.message).toContain('REPLICATION_CONFIG: (root): is not valid JSON');
    expect(error.message).toMatch(/^invalid ingest environment/);
  });
});

describe('dispatcher settings', () => {
  it('defaults the lease to 900 s and the attempts to 5', () => {
    expect(
      parseDispatchSettings({
        JOB_TABLE: 'jobs',
        WORKER_PROJECT_NAME: 'ecr-replicate-worker',
        RETRY_QUEUE_URL: RETRY_URL,
      }),
    ).toEqual({
      jobTable: 'jobs',
      workerProjectName: 'ecr-replicate-worker',
      leaseSeconds: 900,
      retryQueueUrl: RETRY_URL,
    });
    expect(
      parseBuildStateSettings({ JOB_TABLE: 'jobs', RETRY_QUEUE_URL: RETRY_URL, WORKER_PROJECT_NAME: 'w1' }),
    ).toEqual({
      jobTable: 'jobs',
      retryQueueUrl: RETRY_URL,
      maxAttempts: 5,
      workerProjectName: 'w1',
    });
    expect(parseRetryForwardSettings({ REQUEST_QUEUE_URL: QUEUE_URL })).toEqual({ requestQueueUrl: QUEUE_URL });
  });

  it.each([
    ['LEASE_SECONDS', 'abc', 'LEASE_SECONDS: must be a whole number from 2 to 43200'],
    ['LEASE_SECONDS', '1', 'LEASE_SECONDS: must be a whole number from 2 to 43200'],
    ['LEASE_SECONDS', '1.5', 'LEASE_SECONDS: must be a whole number'],
    ['JOB_TABLE', 'a b', 'JOB_TABLE: must be a DynamoDB table name'],
    ['WORKER_PROJECT_NAME', '-x', 'WORKER_PROJECT_NAME: must be a CodeBuild project name'],
  ])('rejects %s=%j', (name, value, message) => {
    const env = { JOB_TABLE: 'jobs', WORKER_PROJECT_NAME: 'worker', RETRY_QUEUE_URL: RETRY_URL, [name]: value };
    expect(validationError(() => parseDispatchSettings(env)).message).toContain(message);
  });

  it('accepts explicit numbers', () => {
    expect(
      parseDispatchSettings({
        JOB_TABLE: 'jobs',
        WORKER_PROJECT_NAME: 'w1',
        LEASE_SECONDS: ' 1200 ',
        RETRY_QUEUE_URL: RETRY_URL,
      }).leaseSeconds,
    ).toBe(1200);
    expect(
      parseBuildStateSettings({
        JOB_TABLE: 'jobs',
        RETRY_QUEUE_URL: RETRY_URL,
        WORKER_PROJECT_NAME: 'w1',
        MAX_ATTEMPTS: '2',
      }).maxAttempts,
    ).toBe(2);
  });
});

describe('worker settings', () => {
  const env = {
    JOB_TABLE: 'jobs',
    JOB_KEYS: '["team/app:latest","team/app@sha256:' + 'a'.repeat(64) + '"]',
    LEASE_OWNER: 'dispatch-3f1c',
    DEST_SECRET_ID: 'ecr-replicate/destination',
    REPLICATION_CONFIG: '{}',
  };

  it('parses the jobs, the lease owner and the secret id', () => {
    const settings = parseWorkerSettings(env);
    expect(settings.jobKeys).toEqual(['team/app:latest', `team/app@sha256:${'a'.repeat(64)}`]);
    expect(settings.leaseOwner).toBe('dispatch-3f1c');
    expect(settings.leaseSeconds).toBe(900);
    expect(settings.destRegistry).toBeUndefined();
  });

  it('accepts a destination registry override', () => {
    expect(parseWorkerSettings({ ...env, DEST_REGISTRY: '127.0.0.1:5001' }).destRegistry).toBe('127.0.0.1:5001');
    expect(parseWorkerSettings({ ...env, DEST_REGISTRY: 'http://localhost:5001' }).destRegistry).toBe(
      'http://localhost:5001',
    );
  });

  it.each([
    ['JOB_KEYS', '[]', 'JOB_KEYS: must be a JSON array of 1 to 100 distinct'],
    ['JOB_KEYS', '["a","a"]', 'JOB_KEYS: must be a JSON array of 1 to 100 distinct'],
    ['JOB_KEYS', 'team/app:latest', 'JOB_KEYS: must be a JSON array of job keys'],
    ['LEASE_OWNER', 'has space', 'LEASE_OWNER: must be 1 to 128 printable ASCII'],
    ['DEST_REGISTRY', 'https://host/path?x', 'DEST_REGISTRY: must be a registry host[:port]'],
    ['SOURCE_REGISTRY', 'not a host!', 'SOURCE_REGISTRY: must be a registry host[:port]'],
    ['DEST_REGION', 'gov', 'DEST_REGION: must be an AWS region'],
  ])('rejects %s=%j', (name, value, message) => {
    expect(validationError(() => parseWorkerSettings({ ...env, [name]: value })).message).toContain(message);
  });

  it('requires the secret id, the jobs and the lease owner', () => {
    const error = validationError(() => parseWorkerSettings({ JOB_TABLE: 'jobs' }));
    expect(error.issues.map((i) => i.path).sort()).toEqual(['DEST_SECRET_ID', 'JOB_KEYS', 'LEASE_OWNER']);
  });
});

describe('variable lists', () => {
  it('names each component’s variables once', () => {
    expect(IngestSettings.variables).toEqual(['REQUEST_QUEUE_URL', 'REPLICATION_CONFIG']);
    expect(DispatchSettings.variables).toEqual([
      'JOB_TABLE',
      'WORKER_PROJECT_NAME',
      'LEASE_SECONDS',
      'RETRY_QUEUE_URL',
      'COPY_FUNCTION_NAME',
    ]);
    expect(SweepSettings.variables).toEqual(['JOB_TABLE', 'REQUEST_QUEUE_URL', 'SWEEP_PENDING_SECONDS']);
    expect(BuildStateSettings.variables).toEqual([
      'JOB_TABLE',
      'RETRY_QUEUE_URL',
      'MAX_ATTEMPTS',
      'WORKER_PROJECT_NAME',
    ]);
    expect(RetryForwardSettings.variables).toEqual(['REQUEST_QUEUE_URL']);
    expect(WorkerSettings.variables).toEqual([
      'JOB_TABLE',
      'JOB_KEYS',
      'LEASE_OWNER',
      'DEST_SECRET_ID',
      'REPLICATION_CONFIG',
      'LEASE_SECONDS',
      'DEST_REGISTRY',
      'SOURCE_REGISTRY',
      'DEST_REGION',
      'DEST_API_QUOTAS',
    ]);
    expect(CopyLambdaSettings.variables).toEqual([
      'JOB_TABLE',
      'DEST_SECRET_ID',
      'REPLICATION_CONFIG',
      'LEASE_SECONDS',
      'DEST_REGISTRY',
      'SOURCE_REGISTRY',
      'DEST_REGION',
      'DEST_API_QUOTAS',
      'WORKER_PROJECT_NAME',
      'COPY_RESERVE_SECONDS',
      'COPY_ASSUMED_MIBPS',
    ]);
    // The start of a fan-out scan reads no secret: only the scan Lambda compares with the destination.
    expect(RepairSettings.variables).toEqual(['SCAN_QUEUE_URL', 'REPLICATION_CONFIG', 'SOURCE_REGISTRY']);
    expect(ScanSettings.variables).toEqual([
      'REQUEST_QUEUE_URL',
      'SCAN_QUEUE_URL',
      'REPLICATION_CONFIG',
      'DEST_SECRET_ID',
      'DEST_REGION',
      'DEST_REGISTRY',
      'SOURCE_REGISTRY',
      'REPAIR_CONCURRENCY',
      'SCAN_PAGE_TAGS',
    ]);
  });

  it('bounds the scan page and defaults it', () => {
    const env = {
      REQUEST_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/r.fifo',
      SCAN_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/scan',
      DEST_SECRET_ID: 'secret',
    };
    expect(parseScanSettings(env).scanPageTags).toBe(1_000);
    expect(parseScanSettings({ ...env, SCAN_PAGE_TAGS: '25' }).scanPageTags).toBe(25);
    expect(validationError(() => parseScanSettings({ ...env, SCAN_PAGE_TAGS: '0' })).message).toContain(
      'SCAN_PAGE_TAGS: must be a whole number from 1 to 100000',
    );
    expect(validationError(() => parseRepairSettings({})).issues.map((i) => i.path)).toEqual(['SCAN_QUEUE_URL']);
  });
});

describe('copy Lambda settings', () => {
  const base = { JOB_TABLE: 'jobs', DEST_SECRET_ID: 'dest', WORKER_PROJECT_NAME: 'worker' };

  it('defaults the budget to a 30 s reserve and 40 MiB/s assumed, takes decimals', () => {
    expect(parseCopyLambdaSettings(base)).toMatchObject({ copyReserveSeconds: 30, copyAssumedMibps: 40 });
    expect(parseCopyLambdaSettings({ ...base, COPY_RESERVE_SECONDS: '0.6', COPY_ASSUMED_MIBPS: '12.5' })).toMatchObject(
      { copyReserveSeconds: 0.6, copyAssumedMibps: 12.5 },
    );
  });

  it('refuses a budget that is not a number in range, naming the variable', () => {
    expect(() => parseCopyLambdaSettings({ ...base, COPY_RESERVE_SECONDS: '-1' })).toThrow(/COPY_RESERVE_SECONDS/);
    expect(() => parseCopyLambdaSettings({ ...base, COPY_ASSUMED_MIBPS: 'fast' })).toThrow(/COPY_ASSUMED_MIBPS/);
  });

  it('turns the Lambda path off when COPY_FUNCTION_NAME is unset or empty, and checks a name or ARN', () => {
    const dispatch = { JOB_TABLE: 'jobs', WORKER_PROJECT_NAME: 'worker', RETRY_QUEUE_URL: RETRY_URL };
    expect(parseDispatchSettings(dispatch).copyFunctionName).toBeUndefined();
    expect(parseDispatchSettings({ ...dispatch, COPY_FUNCTION_NAME: '' }).copyFunctionName).toBeUndefined();
    expect(parseDispatchSettings({ ...dispatch, COPY_FUNCTION_NAME: 'ecr-replicate-prod-copy' }).copyFunctionName).toBe(
      'ecr-replicate-prod-copy',
    );
    expect(
      parseDispatchSettings({
        ...dispatch,
        COPY_FUNCTION_NAME: 'arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:copy',
      }).copyFunctionName,
    ).toBe('arn:aws-us-gov:lambda:us-gov-west-1:123456789012:function:copy');
    expect(() => parseDispatchSettings({ ...dispatch, COPY_FUNCTION_NAME: 'has space' })).toThrow(/COPY_FUNCTION_NAME/);
  });

  it('reads the destination quotas the worker paces at, naming a bad one', () => {
    const env = {
      JOB_TABLE: 'jobs',
      JOB_KEYS: '["a:b"]',
      LEASE_OWNER: 'owner-1',
      DEST_SECRET_ID: 'secret',
    };
    expect(parseWorkerSettings(env).destApiQuotas).toEqual(DEFAULT_DESTINATION_API_QUOTAS);
    expect(parseWorkerSettings({ ...env, DEST_API_QUOTAS: 'off' }).destApiQuotas).toBe('off');
    expect(parseWorkerSettings({ ...env, DEST_API_QUOTAS: 'PutImage=40' }).destApiQuotas).toMatchObject({
      PutImage: 40,
      UploadLayerPart: 500,
    });
    expect(() => parseWorkerSettings({ ...env, DEST_API_QUOTAS: 'PutImage=-1' })).toThrow(/DEST_API_QUOTAS/);
  });
});
