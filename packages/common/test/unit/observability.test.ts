import { deduplicationIdOf } from '../../src';
import {
  MASK,
  METRICS_NAMESPACE,
  createLogger,
  createMetrics,
  isSecretKey,
  maskSecrets,
  maskSecretsInText,
} from '../../src/observability';
import { captureOutput } from '@ecr-replicate/testing';
import { ACCESS_KEY_ID, SECRET_ACCESS_KEY, destinationSecret } from '../fixtures';

describe('secret keys', () => {
  it.each([
    'secretaccesskey',
    'SecretAccessKey',
    'AWS_SECRET_ACCESS_KEY',
    'accesskey',
    'accessKeyId',
    'password',
    'Authorization',
    'token',
    'sessionToken',
    'x-amz-security-token',
    'destSecret',
  ])('masks %s', (key) => expect(isSecretKey(key)).toBe(true));

  it.each(['jobKey', 'jobKeys', 'leaseOwner', 'secretId', 'destSecretId', 'user', 'partition', 'digest'])(
    'keeps %s',
    (key) => {
      expect(isSecretKey(key)).toBe(false);
    },
  );
});

describe('maskSecretsInText', () => {
  it('masks credentials inside free text and JSON logged as text', () => {
    const text = `sent {"user":"u","secretaccesskey":"${SECRET_ACCESS_KEY}","accesskey":"${ACCESS_KEY_ID}"} with Authorization: Basic QVdTOnNlY3JldHBhc3N3b3Jk and Bearer abc.def.ghi`;
    const masked = maskSecretsInText(text);
    expect(masked).not.toContain(SECRET_ACCESS_KEY);
    expect(masked).not.toContain(ACCESS_KEY_ID);
    expect(masked).not.toContain('QVdTOnNlY3JldHBhc3N3b3Jk');
    expect(masked).not.toContain('abc.def.ghi');
    expect(masked).toContain('"user":"u"');
  });
});

describe('createLogger', () => {
  it('writes JSON lines and masks secret fields at any depth', async () => {
    const logger = createLogger('test-service', { persistentKeys: { handler: 'unit' } });
    const { output } = await captureOutput(() => {
      logger.info('loaded the destination secret', {
        secret: destinationSecret(),
        nested: { deeper: [{ credentials: { accesskey: ACCESS_KEY_ID, secretaccesskey: SECRET_ACCESS_KEY } }] },
        request: {
          headers: { Authorization: 'Basic QVdTOnNlY3JldHBhc3N3b3Jk' },
          password: 'hunter2hunter2',
          token: 'tok-123456789',
        },
        jobKey: 'team/app:latest',
      });
      logger.error(
        'the secret leaked into a message: ' + JSON.stringify(destinationSecret()),
        new Error(`with password "${SECRET_ACCESS_KEY}"`),
      );
    });
    for (const secret of [
      SECRET_ACCESS_KEY,
      ACCESS_KEY_ID,
      'QVdTOnNlY3JldHBhc3N3b3Jk',
      'hunter2hunter2',
      'tok-123456789',
    ]) {
      expect(output).not.toContain(secret);
    }
    const lines = output
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      service: 'test-service',
      handler: 'unit',
      jobKey: 'team/app:latest',
      secret: MASK,
    });
    expect(lines[0]?.request).toEqual({ headers: { Authorization: MASK }, password: MASK, token: MASK });
  });
});

describe('maskSecrets', () => {
  it('returns a masked deep copy', () => {
    expect(maskSecrets({ a: { password: 'p4ssw0rd!' }, b: 1 })).toEqual({ a: { password: MASK }, b: 1 });
  });
});

describe('createMetrics', () => {
  it('publishes embedded metrics in the product namespace with the service dimension', async () => {
    const metrics = createMetrics('test-service');
    const { output } = await captureOutput(() => {
      metrics.addMetric('EventsDropped', 'Count', 1);
      metrics.publishStoredMetrics();
    });
    const emf = JSON.parse(output.trim()) as {
      _aws: { CloudWatchMetrics: Array<{ Namespace: string }> };
      service: string;
      EventsDropped: number;
    };
    expect(emf._aws.CloudWatchMetrics[0]?.Namespace).toBe(METRICS_NAMESPACE);
    expect(emf.service).toBe('test-service');
    expect(emf.EventsDropped).toBe(1);
  });
});

describe('deduplicationIdOf', () => {
  it('keeps an id SQS accepts and hashes one it does not, stably', () => {
    expect(deduplicationIdOf('13cde686-328b-6117-af20-0e5566167482')).toBe('13cde686-328b-6117-af20-0e5566167482');
    const long = 'x'.repeat(129);
    expect(deduplicationIdOf(long)).toMatch(/^sha256-[0-9a-f]{64}$/);
    expect(deduplicationIdOf(long)).toBe(deduplicationIdOf(long));
    expect(deduplicationIdOf('with space')).toMatch(/^sha256-/);
    expect(deduplicationIdOf('é')).toMatch(/^sha256-/);
    expect(deduplicationIdOf('x'.repeat(128))).toBe('x'.repeat(128));
  });
});

describe('maskSecretsInText, prose', () => {
  it.each([
    ['password=hunter2', 'password=***'],
    ['token: abc123, next', 'token: ***, next'],
    ['secretaccesskey "a b c" end', 'secretaccesskey *** end'],
    ['the token refresh failed', 'the token refresh failed'],
  ])('%s', (text, expected) => expect(maskSecretsInText(text)).toBe(expected));
});
