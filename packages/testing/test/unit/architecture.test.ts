/**
 * The import boundaries between packages (eslint/boundaries.mjs) are enforced by lint: each deliberate violation
 * below, linted as if it were a file of the package it names, must fail with the boundary's message, and the
 * allowed forms must pass. Breaking a boundary rule makes this test go red.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..', '..');

/**
 * Lints each snippet as the file it names with the repository's own ESLint config, in a child process (the config
 * is an ES module, which Jest's module system cannot load), and returns the boundary rule's messages per snippet.
 */
function lintAll(cases: ReadonlyArray<readonly [string, string]>): string[][] {
  const script = `
    const { ESLint } = require('eslint');
    const { join } = require('node:path');
    const cases = JSON.parse(process.argv[1]);
    const eslint = new ESLint({ cwd: ${JSON.stringify(ROOT)} });
    (async () => {
      const out = [];
      for (const [file, code] of cases) {
        const [result] = await eslint.lintText(code + '\\nexport {};\\n', { filePath: join(${JSON.stringify(ROOT)}, file) });
        out.push(result.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message));
      }
      process.stdout.write(JSON.stringify(out));
    })();`;
  const stdout = execFileSync(process.execPath, ['-e', script, JSON.stringify(cases)], { cwd: ROOT, timeout: 60_000 });
  return JSON.parse(stdout.toString()) as string[][];
}

const violations: Array<[string, string, RegExp]> = [
  ['packages/oci/src/x.ts', "import { ECRClient } from '@aws-sdk/client-ecr';", /no AWS SDK here/],
  ['packages/oci/src/x.ts', "import { Logger } from '@aws-lambda-powertools/logger';", /Lambda runtime code/],
  ['packages/oci/src/x.ts', "import { parseEcrEvent } from '@ecr-replicate/common';", /loads zod/],
  ['packages/oci/src/x.ts', "import { JobStore } from '@ecr-replicate/common/state';", /no job table or queue/],
  [
    'packages/oci/src/x.ts',
    "import { ecrCredentials } from '@ecr-replicate/ecr';",
    /depends on @ecr-replicate\/common\/core only/,
  ],
  ['packages/oci/src/x.ts', "import { z } from 'zod';", /schema library/],
  ['packages/ecr/src/x.ts', "import { ECRClient } from '@aws-sdk/client-ecr';", /take them from \.\/sdk/],
  ['packages/ecr/src/x.ts', "import { planSync } from '@ecr-replicate/repair';", /depends on common and oci only/],
  ['packages/cli/src/copy-command.ts', "import { planSync } from '@ecr-replicate/repair';", /copy path loads no sync/],
  ['packages/cli/src/main.ts', "import { syncCommand } from './sync-command';", /main\.ts requires those commands/],
  ['packages/cli/src/copy-command.ts', "import { SQSClient } from '@aws-sdk/client-sqs';", /load on first use/],
  [
    'packages/cli/src/sync-command.ts',
    "import { sendRequest } from '@ecr-replicate/ingest';",
    /never a Lambda or the worker/,
  ],
  [
    'packages/cli/src/sync-command.ts',
    "import { createLogger } from '@ecr-replicate/common/observability';",
    /Lambda runtime/,
  ],
  [
    'packages/repair/src/plan.ts',
    "import { handler } from '@ecr-replicate/dispatcher';",
    /depends on common, oci and ecr only/,
  ],
  ['packages/repair/src/plan.ts', "import { MetricUnit } from '@aws-lambda-powertools/metrics';", /Lambda runtime/],
  [
    'packages/build-worker/src/x.ts',
    "import { main } from '@ecr-replicate/cli';",
    /never the command or another Lambda/,
  ],
  ['packages/ingest/src/x.ts', "import { copyImage } from '@ecr-replicate/oci';", /load no copy code/],
  ['packages/dispatcher/src/x.ts', "import { startRegistry } from '@ecr-replicate/testing';", /for tests and the demo/],
  ['packages/common/src/x.ts', "import { copyImage } from '@ecr-replicate/oci';", /imports no other package of ours/],
  [
    'packages/common/src/registry/x.ts',
    "import { ReplicationConfigSchema } from '../models/config';",
    /schema-free core/,
  ],
  ['packages/cli/src/x.ts', "import { request } from 'undici/lib/api/api-request';", /used in one place only/],
];

const allowed: Array<[string, string]> = [
  ['packages/oci/src/x.ts', "import { ErrorCode } from '@ecr-replicate/common/core';"],
  ['packages/oci/src/x.ts', "import type { DestinationSecret } from '@ecr-replicate/common';"],
  ['packages/ecr/src/x.ts', "import type { ECRClient } from '@aws-sdk/client-ecr';"],
  ['packages/ecr/src/sdk.ts', "import { ECRClient } from '@aws-sdk/client-ecr';"],
  ['packages/cli/src/main.ts', "import type * as SyncCommand from './sync-command';"],
  ['packages/cli/src/sync-command.ts', "import { planSync } from '@ecr-replicate/repair';"],
  ['packages/repair/src/handler.ts', "import { lambdaHandler } from '@ecr-replicate/common/observability';"],
  ['packages/oci/src/transport/undici.ts', "import type { Dispatcher } from 'undici';"],
];

describe('package boundaries (lint)', () => {
  let results: string[][];
  beforeAll(() => {
    results = lintAll([...violations.map(([file, code]) => [file, code] as const), ...allowed]);
  }, 60_000);

  it.each(violations.map((v, i) => [...v, i] as const))('%s: `%s` fails', (_file, _code, message, index) => {
    expect(results[index]).toHaveLength(1);
    expect(results[index]![0]).toMatch(message);
  });

  it.each(allowed.map((a, i) => [...a, violations.length + i] as const))('%s: `%s` is allowed', (_f, _c, index) => {
    expect(results[index]).toEqual([]);
  });
});
