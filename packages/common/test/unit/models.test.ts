import {
  ErrorCode,
  describeDestinationSecret,
  jobKeyOf,
  messageGroupIdOf,
  parseDestinationSecret,
  parseDestinationSecretString,
  parseEcrImageActionEvent,
  parseJobRecord,
  parseReplicationRequestJson,
  parseScanUnitJson,
  isScanPage,
  type ScanUnit,
  type ReplicationRequest,
} from '../../src';
import {
  ACCESS_KEY_ID,
  DIGEST_A,
  SECRET_ACCESS_KEY,
  destinationSecret,
  ecrPushEvent,
  validationError,
} from '../fixtures';

describe('ECR Image Action event', () => {
  it.each([
    ['PUSH with a tag', ecrPushEvent()],
    ['PUSH without a tag', ecrPushEvent({ tag: null })],
    ['DELETE with a tag', ecrPushEvent({ action: 'DELETE' })],
    ['DELETE without a tag', ecrPushEvent({ action: 'DELETE', tag: null })],
  ])('accepts %s', (_name, event) => {
    const parsed = parseEcrImageActionEvent(event);
    expect(parsed.detail['action-type']).toBe(event.detail['action-type']);
    expect(parsed.detail['image-tag']).toBe(event.detail['image-tag']);
  });

  it('keeps fields ECR may add', () => {
    const event = ecrPushEvent();
    (event.detail as Record<string, unknown>)['manifest-media-type'] = 'application/vnd.oci.image.index.v1+json';
    (event.detail as Record<string, unknown>)['future-field'] = 1;
    expect(parseEcrImageActionEvent(event).detail['future-field']).toBe(1);
  });

  it.each([
    ['wrong detail-type', (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, 'detail-type': 'ECR Scan' }), 'detail-type'],
    [
      'missing digest',
      (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, detail: { ...e.detail, 'image-digest': undefined } }),
      'detail.image-digest: is required',
    ],
    [
      'bad digest',
      (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, detail: { ...e.detail, 'image-digest': 'sha256:xyz' } }),
      'detail.image-digest: a sha256 digest',
    ],
    [
      'unknown action',
      (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, detail: { ...e.detail, 'action-type': 'COPY' } }),
      'detail.action-type',
    ],
    [
      'uppercase repository',
      (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, detail: { ...e.detail, 'repository-name': 'Team/App' } }),
      'detail.repository-name: repository names must be lowercase',
    ],
    ['bad account', (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, account: '42' }), 'account: must be a 12-digit'],
    ['bad time', (e: ReturnType<typeof ecrPushEvent>) => ({ ...e, time: 'yesterday' }), 'time'],
  ])('rejects %s naming the field', (_name, mutate, field) => {
    const error = validationError(() => parseEcrImageActionEvent(mutate(ecrPushEvent())));
    expect(error.code).toBe(ErrorCode.InvalidInput);
    expect(error.message).toContain(field);
    expect(error.message).not.toMatch(/ZodError|at Object\.|node_modules/);
  });

  it('rejects something that is not an object at all', () => {
    expect(validationError(() => parseEcrImageActionEvent('hello')).message).toMatch(
      /^invalid ECR Image Action event: \(root\)/,
    );
  });
});

describe('replication request', () => {
  const request: ReplicationRequest = {
    version: 1,
    eventId: 'e-1',
    eventTime: '2026-11-16T01:54:34Z',
    action: 'PUSH',
    source: { accountId: '123456789012', region: 'us-east-1', repository: 'team/app' },
    destination: { repository: 'mirror/team/app' },
    tag: 'v1',
    digest: DIGEST_A,
  };

  it('round-trips through JSON', () => {
    expect(parseReplicationRequestJson(JSON.stringify(request))).toEqual(request);
  });

  it('reports malformed JSON and bad fields', () => {
    expect(validationError(() => parseReplicationRequestJson('{')).message).toBe(
      'invalid replication request: (root): is not valid JSON',
    );
    const error = validationError(() =>
      parseReplicationRequestJson(JSON.stringify({ ...request, version: 2, destination: {} })),
    );
    expect(error.issues.map((i) => i.path)).toEqual(['version', 'destination.repository']);
  });

  it('keys jobs by destination tag, or digest when tagless', () => {
    expect(jobKeyOf(request)).toBe('mirror/team/app:v1');
    expect(jobKeyOf({ ...request, tag: undefined })).toBe(`mirror/team/app@${DIGEST_A}`);
  });

  it('keeps message group ids within 128 characters, hashing long keys', () => {
    expect(messageGroupIdOf(request)).toBe('mirror/team/app:v1');
    const long = { ...request, destination: { repository: 'a'.repeat(200) } };
    const id = messageGroupIdOf(long);
    expect(id).toMatch(/^sha256-[a-f0-9]{64}$/);
    expect(id.length).toBeLessThanOrEqual(128);
    expect(messageGroupIdOf({ ...long, tag: 'v2' })).not.toBe(id);
  });
});

describe('job record', () => {
  const record = {
    jobKey: 'team/app:v1',
    sourceAccountId: '123456789012',
    sourceRegion: 'us-east-1',
    sourceRepository: 'team/app',
    destinationRepository: 'team/app',
    tag: 'v1',
    action: 'PUSH',
    desiredDigest: DIGEST_A,
    lastEventId: 'e-1',
    lastEventTime: '2026-11-16T01:54:34Z',
    status: 'IN_PROGRESS',
    leaseOwner: 'build:1',
    leaseExpiresAt: 1_800_000_000_000,
    dirty: false,
    attempts: 1,
    requestedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
  };

  it('accepts a leased record', () => {
    expect(parseJobRecord(record).leaseOwner).toBe('build:1');
  });

  it('rejects an unknown status and negative attempts', () => {
    const error = validationError(() => parseJobRecord({ ...record, status: 'DONE', attempts: -1 }));
    expect(error.issues.map((i) => i.path).sort()).toEqual(['attempts', 'status']);
  });
});

describe('destination secret', () => {
  it('accepts the documented fields, region optional', () => {
    expect(parseDestinationSecret(destinationSecret()).partition).toBe('aws-us-gov');
    const { region: _region, ...withoutRegion } = destinationSecret();
    expect(parseDestinationSecret(withoutRegion).region).toBeUndefined();
  });

  it.each(['aws', 'aws-us-gov', 'aws-cn', 'aws-iso', 'aws-iso-b', 'aws-iso-e', 'aws-iso-f'])(
    'accepts partition %s',
    (partition) => {
      expect(parseDestinationSecret(destinationSecret({ partition, region: undefined })).partition).toBe(partition);
    },
  );

  it.each([
    ['user', { user: undefined }, 'user: is required'],
    ['accesskey', { accesskey: undefined }, 'accesskey: is required'],
    ['secretaccesskey', { secretaccesskey: undefined }, 'secretaccesskey: is required'],
    ['partition', { partition: 'aws-moon' }, 'partition: Invalid option'],
    ['accountid', { accountid: '1234' }, 'accountid: must be a 12-digit AWS account id'],
    ['region', { region: 'us-east-1' }, 'region: is in partition aws, not aws-us-gov'],
    ['accesskey shape', { accesskey: 'not-a-key' }, 'accesskey: must be an AWS access key id'],
  ])('names the bad field %s', (_field, overrides, message) => {
    const error = validationError(() => parseDestinationSecret(destinationSecret(overrides)));
    expect(error.message).toContain(message);
  });

  it('never echoes key material in errors, whatever is wrong', () => {
    const inputs = [
      destinationSecret({ accesskey: SECRET_ACCESS_KEY }),
      destinationSecret({ secretaccesskey: 12345, partition: SECRET_ACCESS_KEY }),
      destinationSecret({ accountid: SECRET_ACCESS_KEY }),
      destinationSecret({ region: SECRET_ACCESS_KEY }),
      { ...destinationSecret(), extra: SECRET_ACCESS_KEY, user: 7 },
    ];
    for (const input of inputs) {
      const error = validationError(() => parseDestinationSecret(input));
      const rendered = `${error.message} ${JSON.stringify(error)} ${JSON.stringify(error.details)}`;
      expect(rendered).not.toContain(SECRET_ACCESS_KEY);
      expect(rendered).not.toContain(ACCESS_KEY_ID);
    }
  });

  it('parses the secret string and rejects non-JSON without echoing it', () => {
    expect(parseDestinationSecretString(JSON.stringify(destinationSecret())).accountid).toBe('210987654321');
    const error = validationError(() => parseDestinationSecretString(`not json ${SECRET_ACCESS_KEY}`));
    expect(error.message).toBe('invalid destination secret: (root): is not valid JSON');
  });

  it('describes a secret for logs without its keys', () => {
    const described = JSON.stringify(describeDestinationSecret(parseDestinationSecret(destinationSecret())));
    expect(described).not.toContain(SECRET_ACCESS_KEY);
    expect(described).not.toContain(ACCESS_KEY_ID);
    expect(described).toContain('aws-us-gov');
  });
});

describe('scan unit', () => {
  const unit = {
    version: 1,
    scanId: 'repair-2026-11-30T14:00:00.000Z',
    origin: 'repair',
    plannedAt: '2026-11-30T14:00:00.000Z',
    sourceRepository: 'team/app',
    part: 0,
  };

  it('reads a whole-repository unit and a page', () => {
    expect(parseScanUnitJson(JSON.stringify(unit))).toEqual(unit);
    expect(isScanPage(unit as ScanUnit)).toBe(false);
    const page = { ...unit, after: 'v1.9', until: 'v3.0', part: 2 };
    expect(parseScanUnitJson(JSON.stringify(page))).toEqual(page);
    expect(isScanPage(page as ScanUnit)).toBe(true);
    expect(isScanPage({ after: 'a' })).toBe(true);
  });

  it('names each field that is wrong', () => {
    const error = validationError(() =>
      parseScanUnitJson(
        JSON.stringify({ ...unit, scanId: 'has space', sourceRepository: 'Upper/Case', after: 'bad tag!', part: -1 }),
      ),
    );
    expect(error.issues.map((i) => i.path).sort()).toEqual(['after', 'part', 'scanId', 'sourceRepository']);
  });
});
