/** Thrown for bad command-line usage: exit code 2, with the message naming the bad argument. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export const MAIN_HELP = `Usage: ecr-replicate <command> [options]

Keeps container images equal between registries in different AWS partitions.

Commands:
  copy SOURCE DESTINATION   copy one image (every platform, its signatures and other referrers)

Run "ecr-replicate <command> --help" for a command's options.
`;

export const COPY_HELP = `Usage: ecr-replicate copy SOURCE DESTINATION [options]

Copies an image between registries over the OCI distribution API: manifests
byte for byte (the digest stays the same), every platform of an index, blobs
streamed with their digests checked, referrers after their subject, the tag
last. What the destination already has is skipped.

SOURCE       registry/repository[:tag][@digest]   (tag defaults to "latest")
DESTINATION  registry/repository[:tag]            (tag defaults to the source's)

Options:
  --src-creds USER:PASS    source credentials (or env ECR_REPLICATE_SRC_CREDS)
  --dest-creds USER:PASS   destination credentials (or env ECR_REPLICATE_DEST_CREDS)
  --dest-secret ID         Secrets Manager secret (name or ARN) with the destination's
                           AWS keys: fields user, accesskey, secretaccesskey,
                           partition, accountid, optional region
  --platform OS/ARCH[/VARIANT]
                           copy only this platform of an index (repeatable); the
                           new index has a different digest, and the tool says so
  --no-referrers           do not copy signatures, attestations and other referrers
  --concurrency N          blobs transferred at once (default 8)
  --retries N              tries per request before giving up (default 5)
  --plain-http HOST        talk plain HTTP to HOST (repeatable); loopback hosts
                           (127.0.0.0/8, localhost, ::1) always use plain HTTP,
                           every other host TLS with verification
  --json                   one JSON object per event on stdout (the default when
                           stdout is not a terminal)
  -h, --help               show this help

Credentials, when not given: the Docker config file's "auths"
($DOCKER_CONFIG/config.json or ~/.docker/config.json), then for ECR hosts a
token from ECR GetAuthorizationToken with the default AWS credentials, else
anonymous.

Exit status: 0 copied (or already there), 1 the copy failed, 2 bad usage.
`;
