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
  sync SOURCE_REGISTRY DESTINATION_REGISTRY
                            make a whole registry equal to another: backfill and drift repair
  status [REPOSITORY[:TAG]] where every tag stands in the deployed job table
  config check FILE         check a replication configuration file
  config schema             print the configuration's JSON Schema (for editors)

Options:
  --version                 print the version
  -h, --help                this help; "ecr-replicate help <command>" for a command's

Run "ecr-replicate help <command>" for a command's options.
`;

/** The options `copy` and `sync` share: credentials, AWS profile and region, TLS, retries, the request trace. */
const REGISTRY_ACCESS_HELP = `  --src-creds USER:PASS    source credentials (or env ECR_REPLICATE_SRC_CREDS); a
                           password here is visible in the process list: prefer
  --src-creds-file FILE    the first line of FILE, USER:PASS ("-": standard input)
  --dest-creds USER:PASS   destination credentials (or env ECR_REPLICATE_DEST_CREDS)
  --dest-creds-file FILE   the same from FILE ("-": standard input)
  --dest-secret ID         Secrets Manager secret (name or ARN) with the destination's
                           AWS keys: fields user, accesskey, secretaccesskey,
                           partition, accountid, optional region
  --authfile FILE          auth file to read first (or env REGISTRY_AUTH_FILE); the
                           Docker config is read after it
  --src-profile NAME, --dest-profile NAME
                           AWS profile for that side's ECR token (and, for the
                           destination, its secret); default the standard AWS chain
  --src-region REGION, --dest-region REGION
                           AWS region of that side's API calls when the host does not
                           say it (the destination secret's region, the source's ECR
                           repository listing)
  --ca-file [HOST=]FILE    trust the PEM certificate authorities in FILE, for HOST
                           only or for every host (repeatable); a loopback HOST named
                           here is spoken to over TLS
  --tls-verify=false HOST  do not verify HOST's certificate (repeatable; loud; for an
                           internal registry only: prefer --ca-file)
  --plain-http HOST        talk plain HTTP to HOST (repeatable); loopback hosts
                           (127.0.0.0/8, localhost, ::1) use plain HTTP unless named by
                           --ca-file or --tls-verify, every other host TLS with verification
  --retries N              retries per request after the first try (default 4)
  --debug                  trace every request on stderr: method, URL, status,
                           milliseconds (credentials and signatures masked)
`;

export const COPY_HELP = `Usage: ecr-replicate copy SOURCE DESTINATION [options]

Copies an image between registries over the OCI distribution API: manifests
byte for byte (the digest stays the same), every platform of an index, blobs
streamed with their digests checked, referrers after their subject, the tag
last. What the destination already has is skipped.

SOURCE       registry/repository[:tag][@digest]   (tag defaults to "latest")
DESTINATION  registry/repository[:tag]            (tag defaults to the source's)

Options:
${REGISTRY_ACCESS_HELP}  --platform OS/ARCH[/VARIANT]
                           copy only this platform of an index (repeatable); the
                           new index has a different digest, and the tool says so
  --no-referrers           do not copy signatures, attestations and other referrers
  --include-foreign-layers copy foreign and non-distributable layers (Windows base
                           layers) when the source has them; by default they are
                           not fetched and the manifest still points at their URLs
  --concurrency N          blobs transferred at once (default 16)
  --json                   one JSON object per event on stdout (the default when
                           stdout is not a terminal)
  -h, --help               show this help

SOURCE and DESTINATION may start with docker:// (as for skopeo).

Credentials, when not given: for ECR hosts a fresh token from ECR
GetAuthorizationToken with the AWS credentials (the side's profile, else the
standard chain); then the auth files (--authfile or REGISTRY_AUTH_FILE, then
$DOCKER_CONFIG/config.json or ~/.docker/config.json): "credHelpers" (runs
docker-credential-NAME), "auths", "credsStore"; else anonymous.

Network: HTTPS_PROXY, HTTP_PROXY and NO_PROXY (or lower case) are honoured;
NODE_EXTRA_CA_CERTS too.

Exit status: 0 copied (or already there), 1 the copy failed, 2 bad usage.
`;

export const SYNC_HELP = `Usage: ecr-replicate sync SOURCE_REGISTRY DESTINATION_REGISTRY [options]

Makes the destination registry equal to the source: backfill and drift repair.
Lists the source repositories (ECR DescribeRepositories for an ECR host, else
the registry's catalog API), applies the replication configuration (repository
and tag filters, name mapping, deletes) and compares every selected tag's
digest at both ends. Plan entries:

  copy     the destination lacks the tag
  update   the destination tag points at another digest, or an equal image
           lacks some of its signatures or other referrers there
  delete   the source no longer has the tag (only with "deletes": true in the
           configuration, and only tags the tag filters select)
  ok       equal

Referrer tags (sha256-<hex>, .sig, .att, .sbom) are never planned on their
own: they are copied with their subject. Whole repositories gone from the
source are left alone.

SOURCE_REGISTRY, DESTINATION_REGISTRY   registry host[:port]

Modes:
  --dry-run                print the plan and change nothing
  --direct                 (default) copy, update and delete right here with the
                           copy engine; deletes use ECR BatchDeleteImage on ECR,
                           else DELETE by tag, falling back to by digest
  --enqueue QUEUE_URL      hand the scan to the deployed stack: one scan unit per
                           selected repository on its scan queue (QUEUE_URL: the
                           stack's ScanQueueUrl output); its scan Lambdas compare
                           them in parallel and queue a request per differing tag
                           for the workers (the deployed configuration decides the
                           mapping, the tag filters and whether deletes happen)

Options:
  --config FILE            the replication configuration (JSON; default the
                           REPLICATION_CONFIG environment variable, else everything);
                           check one with "ecr-replicate config check FILE"
${REGISTRY_ACCESS_HELP}  --concurrency N          images copied at once (default 4); four times as many
                           requests while comparing
  --json                   one JSON object per line: each plan entry, each result,
                           then a summary (the default when stdout is not a terminal)
  -h, --help               show this help

Exit status: 0 the destination equals the source (or the plan was printed, or
every request was queued), 1 something could not be compared or done (each
failure is named; the rest was still done), 2 bad usage.
`;

export const STATUS_HELP = `Usage: ecr-replicate status [REPOSITORY[:TAG] | REPOSITORY@DIGEST]
                            (--stage STAGE | --stack NAME | --table NAME) [options]

Where every tag stands, from the deployed job table (DynamoDB): status
(PENDING, IN_PROGRESS, COMPLETE, FAILED, as ECR's DescribeImageReplicationStatus
says them), the digest asked for and the one replicated, attempts, the last
error, the age of the record and, while IN_PROGRESS, the worker holding it.
REPOSITORY is the destination repository name (after mapping), as job keys use.

Options:
  --stage STAGE            find the job table from the deployed source stack
                           ecr-partition-replicate-STAGE (its JobTableName output)
  --stack NAME             the same from a stack of another name
  --table NAME             the job table itself (or env JOB_TABLE)
  --status STATUS          only jobs in this status: PENDING, IN_PROGRESS,
                           COMPLETE or FAILED
  --region REGION          the table's and stack's region (default AWS_REGION, then
                           the AWS configuration); AWS_ENDPOINT_URL_DYNAMODB and
                           AWS_ENDPOINT_URL_CLOUDFORMATION are honoured
  --json                   one JSON object per job
  --watch                  read again every --interval seconds (default 5) and
                           redraw, until Ctrl-C
  -h, --help               show this help

A REPOSITORY:TAG or REPOSITORY@DIGEST is one read by key, a REPOSITORY alone a
query on the table's repository index; no argument scans the table.

Exit status: 0 listed (whatever the jobs' status), 1 the table could not be
read, 2 bad usage.
`;

export const CONFIG_HELP = `Usage: ecr-replicate config check FILE [--json]
       ecr-replicate config schema

check   reads the replication configuration FILE (JSON) as sync and the
        deployed functions do, and says what it selects; an unknown key, a bad
        value or malformed JSON is named with its path (exit 1)
schema  prints the configuration's JSON Schema (draft 2020-12): point an
        editor at it with "$schema" in the file, or save it for CI checks

Exit status: 0 valid, 1 invalid, 2 bad usage.
`;
