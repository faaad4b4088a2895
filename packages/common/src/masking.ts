/**
 * Masking of secrets inside free text (error messages, registry error bodies, stack traces) and removal of
 * terminal control characters. Schema-free and AWS-free, so that the copy path (`common/core`) can use it; the
 * logger's serializer (`observability.ts`) uses the same functions.
 */

export const MASK = '***';

/** `"password": "..."` and the like inside a string (a JSON document logged as text). */
const SECRET_JSON_FIELD =
  /("(?:[^"\\]*?)(?:secret_?access_?key|access_?key(?:_?id)?|password|passwd|authorization|token|secret|secret_?string|credentials)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi;
/**
 * `password=x`, `token: x`, `AWS_SECRET_ACCESS_KEY=x`, `secretaccesskey "x"` in prose (not `token refresh`: a
 * separator or quotes are needed). The key may be the end of a longer name (`AWS_SESSION_TOKEN`, `x-registry-token`).
 */
const SECRET_ASSIGNMENT =
  /\b((?:[\w-]*?[_-])?(?:secret_?access_?key|access_?key(?:_?id)?|password|passwd|token|secret)\b(?:\s*[:=]\s*|\s+(?="|')))(?:"[^"]*"|'[^']*'|[^\s,;"'&]+)/gi;
/** HTTP credentials: `Basic <base64>` and `Bearer <token>` (an `Authorization: ` prefix or not). */
const HTTP_CREDENTIALS = /\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]{8,}/gi;
/**
 * `scheme://user:password@host` and `scheme://token@host`: the whole user-information part of a URL (up to its last
 * `@`, so a password holding one is masked whole).
 */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+(?:@[^\s/?#@]*)*@/gi;
/** A JSON Web Token anywhere (`eyJ<header>.<payload>.<signature>`): registries' bearer tokens, echoed bare. */
const JWT = /\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
/** AWS access key ids. */
const ACCESS_KEY_ID = /\b(?:AKIA|ASIA)[A-Z0-9]{12,124}\b/g;
/** Query parameters that carry signatures or tokens (S3's pre-signed URLs, registry upload states). */
const SECRET_QUERY = /([?&](?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature|sig|_state)=)[^&\s"']+/gi;

/** Masks credentials that appear inside free text (messages, stack traces, JSON logged as a string). */
export function maskSecretsInText(text: string): string {
  return text
    .replace(URL_USERINFO, `$1${MASK}@`)
    .replace(JWT, MASK)
    .replace(SECRET_JSON_FIELD, `$1"${MASK}"`)
    .replace(HTTP_CREDENTIALS, `$1 ${MASK}`)
    .replace(SECRET_ASSIGNMENT, `$1${MASK}`)
    .replace(SECRET_QUERY, `$1${MASK}`)
    .replace(ACCESS_KEY_ID, MASK);
}

/**
 * Control characters a terminal would act on (escape sequences, carriage returns, backspaces, bidirectional
 * overrides): everything below 0x20 but tab and newline, DEL, the C1 range, and Unicode's direction controls.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Text fit for a terminal: control characters replaced by `?`. */
export function stripControlCharacters(text: string): string {
  return text.replace(CONTROL, '?');
}

/** Text from a registry (or any remote party) fit to print, log or store: secrets masked, control characters gone. */
export function safeText(text: string): string {
  return stripControlCharacters(maskSecretsInText(text));
}
