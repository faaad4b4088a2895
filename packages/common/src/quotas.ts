import { ErrorCode, ReplicationError } from './errors';

/**
 * The destination registry's calls that an account-wide request quota (per account and region) bounds, by ECR's API
 * names, with ECR's default quotas in requests per second (Amazon ECR User Guide, "Amazon ECR service quotas": the
 * "Rate of … requests" rows, read 2026-11-30; all adjustable through Service Quotas). How each HTTP call of the
 * distribution API maps onto one: `@ecr-replicate/oci`, `transport/pacing.ts`.
 */
export const PACED_APIS = [
  'PutImage',
  'InitiateLayerUpload',
  'UploadLayerPart',
  'CompleteLayerUpload',
  'BatchCheckLayerAvailability',
] as const;
export type PacedApi = (typeof PACED_APIS)[number];

/** Requests per second of each paced API. */
export type ApiQuotas = Readonly<Record<PacedApi, number>>;

export const DEFAULT_DESTINATION_API_QUOTAS: ApiQuotas = {
  PutImage: 10,
  InitiateLayerUpload: 100,
  UploadLayerPart: 500,
  CompleteLayerUpload: 100,
  BatchCheckLayerAvailability: 1_000,
};

/**
 * Reads DEST_API_QUOTAS: unset or empty for ECR's defaults, `off` for no pacing, or `Api=rate` pairs separated by
 * commas (`PutImage=20,UploadLayerPart=1000`) overriding the defaults of the APIs named (rates in requests per second,
 * up to 100,000, fractions allowed). Throws INVALID_INPUT naming what is wrong.
 */
export function parseApiQuotas(text: string | undefined): ApiQuotas | 'off' {
  const value = (text ?? '').trim();
  if (value === '') return DEFAULT_DESTINATION_API_QUOTAS;
  if (value.toLowerCase() === 'off') return 'off';
  const quotas: Record<string, number> = { ...DEFAULT_DESTINATION_API_QUOTAS };
  for (const pair of value.split(',')) {
    const [name, rate, ...rest] = pair.split('=').map((p) => p.trim());
    if (!(PACED_APIS as readonly string[]).includes(name ?? '')) {
      throw new ReplicationError(
        ErrorCode.InvalidInput,
        `"${(name ?? '').slice(0, 40)}" is not a paced API (one of ${PACED_APIS.join(', ')})`,
      );
    }
    const perSecond = rest.length === 0 && rate !== undefined && /^\d+(?:\.\d+)?$/.test(rate) ? Number(rate) : NaN;
    if (!(perSecond > 0 && perSecond <= 100_000)) {
      throw new ReplicationError(
        ErrorCode.InvalidInput,
        `the rate of ${name} must be a number of requests per second above 0 and at most 100000`,
      );
    }
    quotas[name as string] = perSecond;
  }
  return quotas as ApiQuotas;
}

/** The form parseApiQuotas reads (every API named). */
export function formatApiQuotas(quotas: ApiQuotas): string {
  return PACED_APIS.map((api) => `${api}=${quotas[api]}`).join(',');
}
