/** A destination secret as the stack stores it, with fake keys that tests assert never reach any output. */
export const DEST_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
export const DEST_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
/** The secret's destination: account 210987654321 in GovCloud (us-gov-west-1). */
export const GOV_REGISTRY_HOST = '210987654321.dkr.ecr.us-gov-west-1.amazonaws.com';
export const DEST_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-replicate/destination-AbCdEf';

/** The secret's JSON (the older system's fields), with fields replaced or removed (`undefined`) by `overrides`. */
export function destinationSecretJson(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    user: 'ecr-replicate',
    accesskey: DEST_ACCESS_KEY_ID,
    secretaccesskey: DEST_SECRET_ACCESS_KEY,
    partition: 'aws-us-gov',
    accountid: '210987654321',
    ...overrides,
  });
}
