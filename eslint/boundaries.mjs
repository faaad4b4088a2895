// @ts-check
/**
 * Which package may import which, enforced by lint (docs/architecture.md, "Packages and what each may import").
 * `npm run lint` fails on a violation; packages/testing/test/unit/architecture.test.ts shows that it does.
 */

/** @typedef {{ regex: string, message: string, allowTypeImports?: boolean }} Restriction */

const OURS = (names) => `^@ecr-replicate/(${names.join('|')})(/|$)`;

/** @type {Record<string, Restriction>} */
const R = {
  testSupport: {
    regex: OURS(['testing', 'local']),
    message: 'test support and the local runner are for tests and the demo, never for shipped code',
  },
  privateUndici: {
    regex: '^undici/lib/',
    message: "undici's private paths are used in one place only: packages/oci/src/transport/undici.ts",
  },
  anyOfOurs: {
    regex: '^@ecr-replicate/',
    message: 'common is the base package: it imports no other package of ours',
  },
  schemas: {
    regex: '^zod$|(^|/)(models|validation|settings)(/|$)',
    message: 'the schema-free core of common (errors, references, ECR hosts) must not load the schema library',
  },
  aws: {
    regex: '^@aws-sdk/',
    message: 'no AWS SDK here: AWS plugs in from @ecr-replicate/ecr (credential sources, ECR API calls)',
  },
  awsValues: {
    regex: '^@aws-sdk/',
    allowTypeImports: true,
    message: 'AWS SDK clients load on first use: take them from ./sdk (see its comment), import only types here',
  },
  lambdaRuntime: {
    regex: '^@aws-lambda-powertools/|^@middy/|^@ecr-replicate/common/observability$',
    message: 'Lambda runtime code (Powertools, middy, common/observability) belongs to Lambda handlers only',
  },
  zod: { regex: '^zod$', message: 'the schema library loads through @ecr-replicate/common, never directly here' },
  commonRootValues: {
    regex: '^@ecr-replicate/common$',
    allowTypeImports: true,
    message:
      'the root of @ecr-replicate/common loads zod: import values from @ecr-replicate/common/core (types are fine)',
  },
  ociDeps: {
    regex: OURS(['oci', 'ecr', 'repair', 'cli', 'build-worker', 'ingest', 'dispatcher']),
    message: 'oci is a library: it depends on @ecr-replicate/common/core only',
  },
  commonState: {
    regex: '^@ecr-replicate/common/(state|queue)$',
    message: 'oci and ecr hold no job table or queue: those belong to the pipeline',
  },
  ecrDeps: {
    regex: OURS(['ecr', 'repair', 'cli', 'build-worker', 'ingest', 'dispatcher']),
    message: 'ecr plugs AWS into oci: it depends on common and oci only',
  },
  repairDeps: {
    regex: OURS(['repair', 'cli', 'build-worker', 'ingest', 'dispatcher']),
    message: 'repair is shared by the command and the scheduled Lambda: it depends on common, oci and ecr only',
  },
  cliDeps: {
    regex: OURS(['cli', 'build-worker', 'ingest', 'dispatcher']) + '|^@ecr-replicate/repair/',
    message: 'the command uses the libraries (oci, ecr, repair), never a Lambda or the worker',
  },
  copyPathLibraries: {
    regex: '^@ecr-replicate/(repair|common/state|common/queue)$|^\\./(sync|status)-command$',
    allowTypeImports: true,
    message: 'the copy path loads no sync, status, job-table or queue code: main.ts requires those commands on use',
  },
  workerDeps: {
    regex: OURS(['build-worker', 'cli', 'repair', 'ingest', 'dispatcher', 'copy-lambda']),
    message: 'the worker uses the libraries (common, oci, ecr), never the command or another Lambda',
  },
  copyLambdaDeps: {
    regex: OURS(['copy-lambda', 'cli', 'repair', 'ingest', 'dispatcher']),
    message:
      'the copy Lambda runs the worker code (build-worker, oci, ecr, common); never the command or another Lambda',
  },
  lambdaDeps: {
    regex: OURS(['ingest', 'dispatcher', 'cli', 'oci', 'ecr', 'repair', 'build-worker', 'copy-lambda']),
    message: 'ingest and the dispatcher hand work on through the queue and the job table; they load no copy code',
  },
};

/** The command's copy path: what `ecr-replicate copy` loads (its start-up budget, docs/architecture.md). */
const CLI_COPY_PATH = ['main', 'copy-command', 'reporter', 'options', 'credentials', 'io', 'usage', 'status-line'].map(
  (name) => `packages/cli/src/${name}.ts`,
);

/**
 * One config entry: these files may not import what the restrictions name. ESLint lets a later entry that matches
 * the same file replace an earlier one's options, so a specific entry lists everything its files are denied.
 * @param {string[]} files
 * @param {Restriction[]} restrictions
 */
function deny(files, ...restrictions) {
  return {
    files,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: restrictions.map((r) => ({
            regex: r.regex,
            message: r.message,
            allowTypeImports: r.allowTypeImports ?? false,
          })),
        },
      ],
    },
  };
}

const everywhere = [R.testSupport, R.privateUndici];
const ociBase = [R.aws, R.lambdaRuntime, R.zod, R.ociDeps, R.commonRootValues, R.commonState, R.testSupport];
const ecrBase = [R.lambdaRuntime, R.zod, R.ecrDeps, R.commonRootValues, R.commonState, ...everywhere];
const repairBase = [R.zod, R.repairDeps, ...everywhere];
const cliBase = [R.lambdaRuntime, R.zod, R.cliDeps, ...everywhere];

export const boundaries = [
  deny(['packages/common/src/**/*.ts'], R.anyOfOurs, R.privateUndici),
  deny(
    ['packages/common/src/core.ts', 'packages/common/src/errors.ts', 'packages/common/src/registry/**/*.ts'],
    R.anyOfOurs,
    R.privateUndici,
    R.schemas,
    R.aws,
    R.lambdaRuntime,
  ),
  deny(['packages/oci/src/**/*.ts'], ...ociBase, R.privateUndici),
  deny(['packages/oci/src/transport/undici.ts'], ...ociBase),
  deny(['packages/ecr/src/**/*.ts'], ...ecrBase, R.awsValues),
  deny(['packages/ecr/src/sdk.ts'], ...ecrBase),
  deny(['packages/repair/src/**/*.ts'], ...repairBase, R.lambdaRuntime),
  deny(
    [
      'packages/repair/src/handler.ts',
      'packages/repair/src/scheduled-repair.ts',
      'packages/repair/src/scan-handler.ts',
      'packages/repair/src/scan-batch.ts',
    ],
    ...repairBase,
  ),
  deny(['packages/cli/src/**/*.ts'], ...cliBase),
  deny(CLI_COPY_PATH, ...cliBase, R.awsValues, R.commonRootValues, R.copyPathLibraries),
  deny(['packages/build-worker/src/**/*.ts'], R.workerDeps, ...everywhere),
  deny(['packages/copy-lambda/src/**/*.ts'], R.copyLambdaDeps, ...everywhere),
  deny(['packages/ingest/src/**/*.ts', 'packages/dispatcher/src/**/*.ts'], R.lambdaDeps, ...everywhere),
];
