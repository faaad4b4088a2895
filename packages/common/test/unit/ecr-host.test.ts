import {
  ErrorCode,
  PARTITION_NAMES,
  ReplicationError,
  ecrHost,
  parseEcrHost,
  partitionOfRegion,
  tryParseEcrHost,
} from '../../src';

const ACCOUNT = '123456789012';

describe('partitionOfRegion', () => {
  it.each([
    ['us-east-1', 'aws'],
    ['eu-central-2', 'aws'],
    ['ap-southeast-5', 'aws'],
    ['il-central-1', 'aws'],
    ['mx-central-1', 'aws'],
    ['us-gov-west-1', 'aws-us-gov'],
    ['us-gov-east-1', 'aws-us-gov'],
    ['cn-north-1', 'aws-cn'],
    ['cn-northwest-1', 'aws-cn'],
    ['us-iso-east-1', 'aws-iso'],
    ['us-isob-east-1', 'aws-iso-b'],
    ['eu-isoe-west-1', 'aws-iso-e'],
    ['us-isof-south-1', 'aws-iso-f'],
  ])('%s is in %s', (region, partition) => {
    expect(partitionOfRegion(region)).toBe(partition);
  });

  it.each(['mars-north-1', 'us-east', 'US-EAST-1', ''])('rejects %j with UNKNOWN_PARTITION', (region) => {
    expect(() => partitionOfRegion(region)).toThrow(expect.objectContaining({ code: ErrorCode.UnknownPartition }));
  });
});

describe('ECR hosts', () => {
  const cases: Array<[string, string, boolean, string]> = [
    ['us-east-1', 'aws', false, `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`],
    ['us-east-1', 'aws', true, `${ACCOUNT}.dkr.ecr-fips.us-east-1.amazonaws.com`],
    ['us-gov-west-1', 'aws-us-gov', false, `${ACCOUNT}.dkr.ecr.us-gov-west-1.amazonaws.com`],
    ['us-gov-east-1', 'aws-us-gov', true, `${ACCOUNT}.dkr.ecr-fips.us-gov-east-1.amazonaws.com`],
    ['cn-north-1', 'aws-cn', false, `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com.cn`],
    ['us-iso-east-1', 'aws-iso', false, `${ACCOUNT}.dkr.ecr.us-iso-east-1.c2s.ic.gov`],
    ['us-isob-east-1', 'aws-iso-b', false, `${ACCOUNT}.dkr.ecr.us-isob-east-1.sc2s.sgov.gov`],
    ['eu-isoe-west-1', 'aws-iso-e', false, `${ACCOUNT}.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk`],
    ['us-isof-south-1', 'aws-iso-f', false, `${ACCOUNT}.dkr.ecr.us-isof-south-1.csp.hci.ic.gov`],
  ];

  it.each(cases)('%s (%s, fips=%s) round-trips through %s', (region, partition, fips, host) => {
    expect(ecrHost({ accountId: ACCOUNT, region, fips })).toBe(host);
    expect(parseEcrHost(host)).toEqual({ accountId: ACCOUNT, region, partition, fips });
  });

  it('covers every partition', () => {
    expect(new Set(cases.map((c) => c[1]))).toEqual(new Set(PARTITION_NAMES));
  });

  it('ignores a port and upper case', () => {
    expect(parseEcrHost(`${ACCOUNT}.DKR.ECR.us-west-2.amazonaws.com:443`).region).toBe('us-west-2');
  });

  it.each([
    'registry.example.com',
    `12345.dkr.ecr.us-east-1.amazonaws.com`,
    `${ACCOUNT}.dkr.ecr.cn-north-1.amazonaws.com`, // China region with the commercial suffix
    `${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com.cn`, // commercial region with the China suffix
    `${ACCOUNT}.dkr.ecr.us-gov-west-1.c2s.ic.gov`,
    `${ACCOUNT}.dkr.ecr.nowhere-1.amazonaws.com`,
  ])('rejects %s', (host) => {
    expect(tryParseEcrHost(host)).toBeUndefined();
    expect(() => parseEcrHost(host)).toThrow(ReplicationError);
  });

  it('refuses to build a host from a bad account id or region', () => {
    expect(() => ecrHost({ accountId: '12', region: 'us-east-1' })).toThrow(/12 digits/);
    expect(() => ecrHost({ accountId: ACCOUNT, region: 'moon-1' })).toThrow(/no known AWS partition/);
  });
});
