/**
 * The floor: the same copy as a fully parallel curl pipeline, the yardstick the issue sets its
 * speed goals by, run beside the two tools so that every ratio can be read against it in the
 * same run.
 *
 * The script does the least any client must do, with every step that can overlap overlapped:
 * it reads the root manifest (and an index's children, all at once) for their round trips,
 * then for every blob at once pipes `curl GET` into `curl PATCH` while the upload session is
 * opened, commits each blob, then stores the children and the root. It knows the image
 * beforehand (digests, sizes, manifest bytes), so it parses nothing; it verifies nothing
 * (no hash), retries nothing, and starts in a few milliseconds.
 *
 * It is a yardstick, not a hard bound: the pipe between the two curls adds a copy and a
 * process hop to every chunk, so on loopback a tool can match or beat it. Through the
 * latency links it is the fastest copy measured here.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SyntheticImage } from '@ecr-replicate/testing';
import { MANIFEST_ACCEPT } from '@ecr-replicate/oci';

/** A string as one bash word. */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The floor's copy of one blob, as bash functions: `blob DIGEST SIZE` pipes `curl GET` from `$S` into one `curl
 * PATCH` to `$D` while the upload session is opened, then commits it (`$origin` resolves relative Locations).
 * Also the blob case's floor (bench/blob.ts).
 */
export const FLOOR_BLOB_PIPE: readonly string[] = [
  'fail() { echo "floor: $*" >&2; exit 1; }',
  'absolute() { case $1 in http*) echo "$1" ;; *) echo "$origin$1" ;; esac; }',
  'location() { tr -d "\\r" | sed -n "s/^[Ll]ocation: //p"; }',
  'blob() {',
  '  curl -sf "$S/blobs/$1" | {',
  '    up=$(curl -sf -X POST -D - -o /dev/null "$D/blobs/uploads/" | location) || exit 1',
  '    next=$(curl -sf -X PATCH -T - -H "Expect:" -H "Content-Type: application/octet-stream" -H "Content-Length: $2" -D - -o /dev/null "$(absolute "$up")" | location) || exit 1',
  '    curl -sf -X PUT -o /dev/null "$(absolute "$next")&digest=$1"',
  '  } || fail "blob $1"',
  '}',
];

/**
 * Writes the floor's script for `image` (and its manifests' bytes) into `dir`; returns the
 * script's path. Run it as `bash SCRIPT SOURCE DESTINATION` with two `HOST/REPOSITORY:TAG`
 * references over plain HTTP.
 */
export function writeFloorScript(image: SyntheticImage, dir: string, key: string): string {
  const children = image.manifests.filter((m) => m.digest !== image.root.digest);
  const manifestFile = (digest: string): string => join(dir, `floor-${key}-${digest.replace(':', '-')}.json`);
  for (const manifest of image.manifests) writeFileSync(manifestFile(manifest.digest), manifest.bytes);

  const lines = [
    '#!/usr/bin/env bash',
    '# The floor: a copy as a fully parallel curl pipeline (bench/floor.ts). No verification, no retries.',
    'set -uo pipefail',
    'src=$1 dst=$2',
    'S="http://${src%%/*}/v2/$(r=${src#*/}; echo "${r%:*}")"',
    'D="http://${dst%%/*}/v2/$(r=${dst#*/}; echo "${r%:*}")"',
    'origin="http://${dst%%/*}"',
    'tag=${dst##*:}',
    ...FLOOR_BLOB_PIPE,
    '# Waits for every job in pids; fails when one did.',
    'all() { for p in "${pids[@]}"; do wait "$p" || exit 1; done; }',
    `accept=${quote(MANIFEST_ACCEPT)}`,
    '',
    '# Round trips any client waits for: the root manifest, then the children all at once.',
    'curl -sf -o /dev/null -H "Accept: $accept" "$S/manifests/${src##*:}" || fail "GET root manifest"',
    'pids=()',
    ...children.map((c) => `curl -sf -o /dev/null -H "Accept: $accept" "$S/manifests/${c.digest}" & pids+=($!)`),
    'all',
    '',
    '# Every blob at once.',
    'pids=()',
    ...image.blobs.map((b) => `blob ${b.digest} ${b.size} & pids+=($!)`),
    'all',
    '',
    '# The children at once, then the root under its tag.',
    'put() { curl -sf -X PUT -o /dev/null -H "Content-Type: $2" --data-binary "@$3" "$D/manifests/$1" || fail "PUT manifest $1"; }',
    'pids=()',
    ...children.map((c) => `put ${c.digest} ${quote(c.mediaType)} ${quote(manifestFile(c.digest))} & pids+=($!)`),
    'all',
    `put "$tag" ${quote(image.root.mediaType)} ${quote(manifestFile(image.root.digest))}`,
    '',
  ];
  const script = join(dir, `floor-${key}.sh`);
  writeFileSync(script, lines.join('\n'));
  return script;
}
