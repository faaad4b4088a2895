/**
 * The referrers tag scheme of OCI distribution 1.1: registries without the
 * referrers API keep an image's referrers under tags named after its digest,
 * `<alg>-<hex>` (an index of referrers) and, by cosign's convention,
 * `<alg>-<hex>.sig`, `.att` and `.sbom`.
 */
const REFERRER_TAG = /^(sha256|sha512)-([a-f0-9]{64}|[a-f0-9]{128})(?:\.([a-z]+))?$/;

export function isReferrerTag(tag: string): boolean {
  return REFERRER_TAG.test(tag);
}

/** The subject digest a referrer tag points at, or undefined for other tags. */
export function subjectOfReferrerTag(tag: string): string | undefined {
  const match = REFERRER_TAG.exec(tag);
  return match ? `${match[1]}:${match[2]}` : undefined;
}

/** The fallback tag that lists the referrers of `digest` (no suffix). */
export function referrersTagOf(digest: string): string {
  return digest.replace(':', '-');
}
