import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { readZip } from '../../../../deploy/lib/zip';
import { startFakeAws } from '../support/fake-aws';
import {
  RUNS,
  offlineEnv,
  packageRuns,
  removeMirrors,
  runKey,
  runSls,
  type PackagedStack,
  type Run,
} from '../support/packaging';
import { REPO_ROOT } from '../support/packaging';
import {
  allStrings,
  allowedActions,
  asArray,
  iamStatements,
  isReadOnlyAction,
  props,
  resourcesOfType,
  roleStatements,
  statementsAllowing,
  target,
  type Loose,
  type Template,
} from '../support/template';
import { available, lintPackagedTemplates, warnSkipped } from '../support/tools';

/**
 * The source-partition stack (serverless.yml), packaged for real with no AWS
 * credentials for dev and prod, in a commercial and a GovCloud region.
 */

/**
 * prod in GovCloud is packaged with the repair schedule turned off (a
 * blank `repairSchedule`), so that case costs no packaging of its own;
 * the other runs keep the shipped parameters.
 */
const SCHEDULE_OFF: Run = { stage: 'prod', region: 'us-gov-west-1' };
const SOURCE_RUNS: Run[] = RUNS.map((run) =>
  runKey(run) === runKey(SCHEDULE_OFF) ? { ...run, params: { repairSchedule: ' ' } } : run,
);
const scheduleOff = (run: Run): boolean => runKey(run) === runKey(SCHEDULE_OFF);
const DEFAULT_REPAIR_SCHEDULE = 'rate(6 hours)';

const stacks = new Map<string, PackagedStack>();

beforeAll(async () => {
  for (const [key, value] of await packageRuns('source', SOURCE_RUNS)) stacks.set(key, value);
}, 300_000);

afterAll(() => removeMirrors());

function packaged(run: Run): PackagedStack {
  const found = stacks.get(runKey(run));
  if (found === undefined) throw new Error(`the source stack was not packaged for ${runKey(run)}`);
  return found;
}

const FUNCTIONS = {
  ingest: 'IngestLambdaFunction',
  dispatcher: 'DispatcherLambdaFunction',
  buildState: 'BuildStateLambdaFunction',
  retry: 'RetryLambdaFunction',
  sweep: 'SweepLambdaFunction',
  repair: 'RepairLambdaFunction',
  copy: 'CopyLambdaFunction',
  scan: 'ScanLambdaFunction',
} as const;

const WORKER_ZIP = 'build-worker.zip';

/** The created secret's ARN (its random suffix as ??????). */
const SECRET_ARN_PATTERN = (stage: string): Loose => ({
  'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:ecr-partition-replicate/${stage}/destination-??????`,
});
const KEYS_OF_ACCOUNT = { 'Fn::Sub': 'arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*' };
const SECRET_DECRYPT_CONDITION = (stage: string): Loose => ({
  StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'secretsmanager.${AWS::Region}.${AWS::URLSuffix}' } },
  StringLike: { 'kms:EncryptionContext:SecretARN': SECRET_ARN_PATTERN(stage) },
});

function environmentOf(template: Template, functionId: string): Record<string, Loose> {
  return props(template, functionId, 'AWS::Lambda::Function').Environment.Variables;
}

/** The replication configuration deployed with a package (the configuration store's object). */
function replicationConfigOf(stack: PackagedStack): { deletes?: boolean; repositories?: { include?: string[] } } {
  return JSON.parse(readFileSync(join(stack.dir, CONFIG_FILE), 'utf8'));
}

const CONFIG_FILE = 'replication-config.json';

/** The rules with a target that is `functionId`: [logical id, properties]. */
function rulesTargeting(template: Template, functionId: string): Array<[string, Record<string, Loose>]> {
  return resourcesOfType(template, 'AWS::Events::Rule')
    .filter(([, rule]) => asArray<Loose>(rule.Properties?.Targets as Loose).some((t) => target(t.Arn) === functionId))
    .map(([id, rule]) => [id, rule.Properties as Record<string, Loose>]);
}

/** The rule whose (single) target is `functionId`. */
function ruleTargeting(template: Template, functionId: string): Record<string, Loose> {
  const rules = rulesTargeting(template, functionId);
  expect(rules).toHaveLength(1);
  return rules[0]![1];
}

function roleOf(template: Template, functionId: string): string {
  const role = target(props(template, functionId).Role);
  if (role === undefined) throw new Error(`${functionId} has no role reference`);
  return role;
}

function workerProject(template: Template): Record<string, Loose> {
  return props(template, 'WorkerProject', 'AWS::CodeBuild::Project');
}

describe.each(SOURCE_RUNS)('source stack, $stage in $region', (run) => {
  const template = (): Template => packaged(run).template;

  test('is packaged offline for its stage and region', () => {
    const stack = packaged(run);
    expect(stack.state.service.provider.region).toBe(run.region);
    expect(props(stack.template, FUNCTIONS.ingest).FunctionName).toBe(`ecr-partition-replicate-${run.stage}-ingest`);
    expect(stack.artifactDirectory).toMatch(new RegExp(`^serverless/ecr-partition-replicate/${run.stage}/\\d+-`));
  });

  test("the ECR rule takes this account's successful pushes (and deletes when they replicate) to ingest, with retries and a dead-letter queue", () => {
    const rule = ruleTargeting(template(), FUNCTIONS.ingest);
    const pattern = rule.EventPattern;
    expect(pattern.source).toEqual(['aws.ecr']);
    expect(pattern['detail-type']).toEqual(['ECR Image Action']);
    expect(pattern.account).toEqual([{ Ref: 'AWS::AccountId' }]);
    expect(pattern.detail.result).toEqual(['SUCCESS']);
    const config = replicationConfigOf(packaged(run));
    const deletes = config.deletes === true;
    expect(pattern.detail['action-type']).toEqual(deletes ? ['PUSH', 'DELETE'] : ['PUSH']);
    expect(run.stage === 'dev' ? deletes : !deletes).toBe(true); // the shipped configurations
    // The shipped configurations include prefix:apps/ only: the rule narrows to it.
    expect(config.repositories?.include).toEqual(['prefix:apps/']);
    expect(pattern.detail['repository-name']).toEqual([{ prefix: 'apps/' }]);
    expect(rule.State).toBe('ENABLED');

    const [ruleTarget] = rule.Targets;
    expect(ruleTarget.RetryPolicy.MaximumRetryAttempts).toBeGreaterThan(0);
    expect(target(ruleTarget.DeadLetterConfig.Arn)).toBe('EventsDeadLetterQueue');
  });

  test("ingest's asynchronous failures go to the events dead-letter queue, which EventBridge may write to for these rules only", () => {
    const configs = resourcesOfType(template(), 'AWS::Lambda::EventInvokeConfig');
    for (const functionId of [FUNCTIONS.ingest, FUNCTIONS.buildState]) {
      const config = configs.find(([, c]) => target(c.Properties?.FunctionName) === functionId);
      expect(config).toBeDefined();
      const properties = config![1].Properties as Record<string, Loose>;
      expect(target(properties.DestinationConfig.OnFailure.Destination)).toBe('EventsDeadLetterQueue');
      expect(properties.MaximumRetryAttempts).toBeGreaterThanOrEqual(1);
    }
    const policy = props(template(), 'EventsDeadLetterQueuePolicy', 'AWS::SQS::QueuePolicy');
    expect(policy.Queues.map(target)).toEqual(['EventsDeadLetterQueue']);
    const [statement] = policy.PolicyDocument.Statement;
    expect(statement.Principal).toEqual({ Service: 'events.amazonaws.com' });
    expect(statement.Action).toBe('sqs:SendMessage');
    const sources = allStrings(statement.Condition.ArnEquals['aws:SourceArn']);
    // The rules with a dead-letter queue (the repair schedule has none: a lost tick waits for the next).
    const ruleNames = [FUNCTIONS.ingest, FUNCTIONS.buildState].map(
      (id) => ruleTargeting(template(), id).Name as string,
    );
    expect(sources).toHaveLength(ruleNames.length);
    for (const name of ruleNames)
      expect(sources).toContainEqual(`arn:\${AWS::Partition}:events:\${AWS::Region}:\${AWS::AccountId}:rule/${name}`);
  });

  test('the request queue is FIFO with explicit deduplication ids, a visibility timeout of six dispatcher timeouts and a FIFO dead-letter queue', () => {
    const queue = props(template(), 'RequestQueue', 'AWS::SQS::Queue');
    expect(queue.FifoQueue).toBe(true);
    expect(queue.ContentBasedDeduplication).toBe(false);
    expect(queue.QueueName).toMatch(/\.fifo$/);
    const dispatcherTimeout = props(template(), FUNCTIONS.dispatcher).Timeout as number;
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * dispatcherTimeout);
    expect(target(queue.RedrivePolicy.deadLetterTargetArn)).toBe('RequestDeadLetterQueue');
    expect(queue.RedrivePolicy.maxReceiveCount).toBeGreaterThanOrEqual(1);
    const deadLetters = props(template(), 'RequestDeadLetterQueue', 'AWS::SQS::Queue');
    expect(deadLetters.FifoQueue).toBe(true);
    expect(deadLetters.MessageRetentionPeriod).toBe(1209600);
  });

  test('the retry queue is a standard queue with its own dead-letter queue', () => {
    const queue = props(template(), 'RetryQueue', 'AWS::SQS::Queue');
    expect(queue.FifoQueue).toBeUndefined();
    const retryTimeout = props(template(), FUNCTIONS.retry).Timeout as number;
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * retryTimeout);
    expect(target(queue.RedrivePolicy.deadLetterTargetArn)).toBe('RetryDeadLetterQueue');
    expect(props(template(), 'RetryDeadLetterQueue', 'AWS::SQS::Queue').FifoQueue).toBeUndefined();
    for (const id of [
      'RequestQueue',
      'RequestDeadLetterQueue',
      'RetryQueue',
      'RetryDeadLetterQueue',
      'EventsDeadLetterQueue',
    ]) {
      expect(props(template(), id).SqsManagedSseEnabled).toBe(true);
    }
  });

  test('the dispatcher reads the FIFO queue and the retry handler the retry queue, both reporting partial batch failures', () => {
    const mappings = resourcesOfType(template(), 'AWS::Lambda::EventSourceMapping').map(
      ([, m]) => m.Properties as Record<string, Loose>,
    );
    // And the scan's, on the scan queue (its own test).
    expect(mappings).toHaveLength(3);
    const dispatcher = mappings.find((m) => target(m.FunctionName) === FUNCTIONS.dispatcher)!;
    expect(target(dispatcher.EventSourceArn)).toBe('RequestQueue');
    expect(dispatcher.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    expect(dispatcher.BatchSize).toBeGreaterThanOrEqual(1);
    expect(dispatcher.BatchSize).toBeLessThanOrEqual(10);
    const retry = mappings.find((m) => target(m.FunctionName) === FUNCTIONS.retry)!;
    expect(target(retry.EventSourceArn)).toBe('RetryQueue');
    expect(retry.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
  });

  test("the build-state handler takes the deaths of this account's worker builds only (the statuses it handles)", () => {
    const rule = ruleTargeting(template(), FUNCTIONS.buildState);
    expect(rule.EventPattern.source).toEqual(['aws.codebuild']);
    expect(rule.EventPattern['detail-type']).toEqual(['CodeBuild Build State Change']);
    expect(rule.EventPattern.account).toEqual([{ Ref: 'AWS::AccountId' }]);
    expect(rule.EventPattern.detail['project-name']).toEqual([workerProject(template()).Name]);
    // The handler's DEAD_BUILD_STATUSES (packages/dispatcher/src/build-state.ts).
    expect([...rule.EventPattern.detail['build-status']].sort()).toEqual(['FAILED', 'FAULT', 'STOPPED', 'TIMED_OUT']);
    expect(target(rule.Targets[0].DeadLetterConfig.Arn)).toBe('EventsDeadLetterQueue');
  });

  test('the handlers get the settings they parse', () => {
    const t = template();
    const projectName = workerProject(t).Name;
    const fips = String(run.region.startsWith('us-gov-'));
    const store = {
      REPLICATION_CONFIG_BUCKET: { Ref: 'ServerlessDeploymentBucket' },
      REPLICATION_CONFIG_KEY: `${packaged(run).artifactDirectory}/${CONFIG_FILE}`,
      REPLICATION_CONFIG_SHA256: createHash('sha256')
        .update(readFileSync(join(packaged(run).dir, CONFIG_FILE)))
        .digest('hex'),
    };
    expect(environmentOf(t, FUNCTIONS.ingest)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_LOG_LEVEL: run.stage === 'dev' ? 'DEBUG' : 'INFO',
      AWS_USE_FIPS_ENDPOINT: fips,
      REQUEST_QUEUE_URL: { Ref: 'RequestQueue' },
      ...store,
    });
    expect(environmentOf(t, FUNCTIONS.dispatcher)).toMatchObject({
      JOB_TABLE: { Ref: 'JobTable' },
      WORKER_PROJECT_NAME: projectName,
    });
    expect(environmentOf(t, FUNCTIONS.dispatcher).LEASE_SECONDS).toMatch(/^\d+$/);
    expect(environmentOf(t, FUNCTIONS.buildState)).toMatchObject({
      JOB_TABLE: { Ref: 'JobTable' },
      RETRY_QUEUE_URL: { Ref: 'RetryQueue' },
      WORKER_PROJECT_NAME: projectName,
    });
    expect(environmentOf(t, FUNCTIONS.buildState).MAX_ATTEMPTS).toMatch(/^\d+$/);
    expect(environmentOf(t, FUNCTIONS.retry)).toMatchObject({ REQUEST_QUEUE_URL: { Ref: 'RequestQueue' } });
    const workerVariables = Object.fromEntries(
      (workerProject(t).Environment.EnvironmentVariables as Loose[])
        .filter((v) => v.Name)
        .map((v) => [v.Name, v.Value]),
    );
    // The start of a fan-out scan: where to send the units; no secret, no destination.
    expect(environmentOf(t, FUNCTIONS.repair)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_LOG_LEVEL: run.stage === 'dev' ? 'DEBUG' : 'INFO',
      AWS_USE_FIPS_ENDPOINT: fips,
      SCAN_QUEUE_URL: { Ref: 'ScanQueue' },
      ...store,
    });
    expect(environmentOf(t, FUNCTIONS.scan)).toEqual({
      NODE_OPTIONS: '--enable-source-maps',
      POWERTOOLS_LOG_LEVEL: run.stage === 'dev' ? 'DEBUG' : 'INFO',
      AWS_USE_FIPS_ENDPOINT: fips,
      REQUEST_QUEUE_URL: { Ref: 'RequestQueue' },
      SCAN_QUEUE_URL: { Ref: 'ScanQueue' },
      SCAN_PAGE_TAGS: '1000',
      // What the worker is given: the secret's name, the destination region and FIPS, the configuration.
      DEST_SECRET_ID: props(t, 'DestinationSecret').Name,
      DEST_REGION: workerVariables.DEST_REGION,
      DEST_USE_FIPS_ENDPOINT: workerVariables.DEST_USE_FIPS_ENDPOINT,
      REPAIR_CONCURRENCY: '8',
      DEST_REGISTRY: { 'Fn::If': ['HasDestRegistry', { Ref: 'DestRegistry' }, { Ref: 'AWS::NoValue' }] },
      ...store,
    });
    for (const name of Object.keys(store)) expect(workerVariables[name]).toEqual(store[name as keyof typeof store]);
    // The destination (us-gov-west-1 by default) is GovCloud: FIPS there.
    expect(workerVariables.DEST_USE_FIPS_ENDPOINT).toBe('true');
    expect(workerVariables.AWS_USE_FIPS_ENDPOINT).toBe(fips);
    for (const id of Object.values(FUNCTIONS)) {
      const fn = props(t, id);
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });

  test(`the repair function runs ${scheduleOff(run) ? 'on no schedule (repairSchedule blank)' : `every 6 hours (${DEFAULT_REPAIR_SCHEDULE})`}, for up to 15 minutes, without Lambda retries`, () => {
    const t = template();
    const fn = props(t, FUNCTIONS.repair, 'AWS::Lambda::Function');
    expect(fn.FunctionName).toBe(`ecr-partition-replicate-${run.stage}-repair`);
    expect(fn.Handler).toBe('packages/repair/src/handler.handler');
    expect(fn.Timeout).toBe(900);
    const invokeConfig = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').filter(
      ([, c]) => target(c.Properties?.FunctionName) === FUNCTIONS.repair,
    );
    expect(invokeConfig.map(([, c]) => c.Properties?.MaximumRetryAttempts)).toEqual([0]);

    const rules = rulesTargeting(t, FUNCTIONS.repair);
    const permissions = resourcesOfType(t, 'AWS::Lambda::Permission')
      .map(([, p]) => p.Properties as Record<string, Loose>)
      .filter((p) => target(p.FunctionName) === FUNCTIONS.repair);
    if (scheduleOff(run)) {
      expect(rules).toEqual([]);
      expect(permissions).toEqual([]);
      return;
    }
    expect(rules).toHaveLength(1);
    const [ruleId, rule] = rules[0]!;
    expect(rule).toMatchObject({
      Name: `ecr-partition-replicate-${run.stage}-repair`,
      ScheduleExpression: DEFAULT_REPAIR_SCHEDULE,
      State: 'ENABLED',
    });
    expect(rule.Targets).toHaveLength(1);
    expect(permissions).toEqual([
      expect.objectContaining({
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      }),
    ]);
  });

  test('the scan function takes one unit at a time from the scan queue, in parallel up to the parameter; failed units go to its dead-letter queue', () => {
    const t = template();
    const fn = props(t, FUNCTIONS.scan, 'AWS::Lambda::Function');
    expect(fn.FunctionName).toBe(`ecr-partition-replicate-${run.stage}-scan`);
    expect(fn.Handler).toBe('packages/repair/src/scan-handler.handler');
    expect(fn.Timeout).toBe(300);
    expect(fn.MemorySize).toBe(512);
    const mappings = resourcesOfType(t, 'AWS::Lambda::EventSourceMapping')
      .map(([, m]) => m.Properties as Record<string, Loose>)
      .filter((m) => target(m.FunctionName) === FUNCTIONS.scan);
    expect(mappings).toHaveLength(1);
    expect(target(mappings[0]!.EventSourceArn)).toBe('ScanQueue');
    expect(mappings[0]).toMatchObject({
      BatchSize: 1,
      ScalingConfig: { MaximumConcurrency: 10 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const queue = props(t, 'ScanQueue', 'AWS::SQS::Queue');
    expect(queue.QueueName).toBe(`ecr-partition-replicate-${run.stage}-scan`);
    expect(queue.FifoQueue).toBeUndefined();
    // AWS's advice for SQS event sources: six times the function's timeout.
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Timeout);
    expect(queue.SqsManagedSseEnabled).toBe(true);
    expect(target(queue.RedrivePolicy.deadLetterTargetArn)).toBe('ScanDeadLetterQueue');
    expect(queue.RedrivePolicy.maxReceiveCount).toBe(3);
    expect(props(t, 'ScanDeadLetterQueue', 'AWS::SQS::Queue').MessageRetentionPeriod).toBe(1209600);
    expect(target(t.Outputs?.ScanQueueUrl?.Value)).toBe('ScanQueue');
  });

  test('each function has a role of its own; no IAM statement allows a wildcard action, or anything but ecr:GetAuthorizationToken on "*"', () => {
    const t = template();
    const roles = Object.values(FUNCTIONS).map((id) => roleOf(t, id));
    expect(new Set(roles).size).toBe(roles.length);
    expect(t.Resources.IamRoleLambdaExecution).toBeUndefined();
    for (const role of roles) {
      const assume = props(t, role, 'AWS::IAM::Role').AssumeRolePolicyDocument.Statement;
      expect(allStrings(assume.map((s: Loose) => s.Principal))).toEqual(['lambda.amazonaws.com']);
    }

    const statements = iamStatements(t);
    expect(statements.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const { where, statement } of statements) {
      if (statement.NotAction !== undefined || statement.NotResource !== undefined)
        problems.push(`${where}: NotAction/NotResource`);
      if (statement.Effect !== 'Allow') continue;
      const actions = asArray(statement.Action);
      for (const action of actions) if (action.includes('*')) problems.push(`${where}: wildcard action ${action}`);
      const resources = asArray<Loose>(statement.Resource);
      if (resources.length === 0) problems.push(`${where}: no resource`);
      if (resources.some((r) => r === '*')) {
        for (const action of actions)
          if (action !== 'ecr:GetAuthorizationToken') problems.push(`${where}: ${action} on "*"`);
      }
    }
    expect(problems).toEqual([]);
  });

  test('the Lambda roles allow what their handlers call, on their own resources', () => {
    const t = template();
    const ingest = roleStatements(t, roleOf(t, FUNCTIONS.ingest));
    expect(
      statementsAllowing(ingest, 'sqs:SendMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(expect.arrayContaining(['RequestQueue', 'EventsDeadLetterQueue']));
    expect([...allowedActions(ingest)].filter((a) => !a.startsWith('logs:')).sort()).toEqual([
      's3:getobject',
      'sqs:sendmessage',
    ]);
    expect(allStrings(statementsAllowing(ingest, 's3:GetObject').map((s) => s.Resource))).toContain(
      `${packaged(run).artifactDirectory}/${CONFIG_FILE}`,
    );

    const dispatcher = roleStatements(t, roleOf(t, FUNCTIONS.dispatcher));
    for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']) {
      expect(statementsAllowing(dispatcher, action).map((s) => target(s.Resource))).toEqual(['JobTable']);
    }
    const startBuild = statementsAllowing(dispatcher, 'codebuild:StartBuild');
    expect(allStrings(startBuild.map((s) => s.Resource))).toEqual([
      `arn:\${AWS::Partition}:codebuild:\${AWS::Region}:\${AWS::AccountId}:project/${workerProject(t).Name}`,
    ]);
    expect(
      statementsAllowing(dispatcher, 'sqs:ReceiveMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(['RequestQueue']);

    const buildState = roleStatements(t, roleOf(t, FUNCTIONS.buildState));
    expect(statementsAllowing(buildState, 'dynamodb:UpdateItem').map((s) => target(s.Resource))).toEqual(['JobTable']);
    expect(
      statementsAllowing(buildState, 'sqs:SendMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(expect.arrayContaining(['RetryQueue']));
    expect(allowedActions(buildState).has('dynamodb:putitem')).toBe(false);

    const retry = roleStatements(t, roleOf(t, FUNCTIONS.retry));
    expect(
      statementsAllowing(retry, 'sqs:SendMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(['RequestQueue']);
    expect(
      statementsAllowing(retry, 'sqs:ReceiveMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(['RetryQueue']);
  });

  test("the repair function's role lists the repositories and sends scan units, and nothing more", () => {
    const t = template();
    const repair = roleStatements(t, roleOf(t, FUNCTIONS.repair));
    expect([...allowedActions(repair)].filter((a) => !a.startsWith('logs:')).sort()).toEqual(
      ['ecr:describerepositories', 'sqs:sendmessage', 's3:getobject'].sort(),
    );
    expect(repair.every((s) => s.Effect === 'Allow')).toBe(true);
    expect(repair.filter((s) => asArray<Loose>(s.Resource).includes('*'))).toEqual([]);
    expect(
      statementsAllowing(repair, 'sqs:SendMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(['ScanQueue']);
    // Listing every repository is authorized on repository/* (of this account and region only).
    expect(allStrings(statementsAllowing(repair, 'ecr:DescribeRepositories').map((s) => s.Resource))).toEqual([
      'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*',
    ]);
  });

  test("the scan function's role reads the source repositories, the secret and its key, queues requests and scan units, and nothing more", () => {
    const t = template();
    const scan = roleStatements(t, roleOf(t, FUNCTIONS.scan));
    const expected = [
      'ecr:getauthorizationtoken',
      'ecr:listimages',
      'ecr:batchgetimage',
      'ecr:describeimages',
      'secretsmanager:getsecretvalue',
      'kms:decrypt',
      'sqs:sendmessage',
      // Its event source.
      'sqs:receivemessage',
      'sqs:deletemessage',
      'sqs:getqueueattributes',
      's3:getobject',
    ];
    expect([...allowedActions(scan)].filter((a) => !a.startsWith('logs:')).sort()).toEqual([...expected].sort());
    for (const action of allowedActions(scan))
      if (action.startsWith('ecr:'))
        expect(isReadOnlyAction(action) || action === 'ecr:getauthorizationtoken').toBe(true);
    expect(scan.every((s) => s.Effect === 'Allow')).toBe(true);

    // Only the token is on "*"; the logs statements are the function's own log group.
    const onAny = scan.filter((s) => asArray<Loose>(s.Resource).includes('*'));
    expect(onAny.map((s) => asArray(s.Action))).toEqual([['ecr:GetAuthorizationToken']]);
    for (const s of scan.filter((s) => asArray(s.Action).some((a) => a.startsWith('logs:')))) {
      expect(
        allStrings(s.Resource).every((r) =>
          r.includes(`:log-group:/aws/lambda/ecr-partition-replicate-${run.stage}-scan:`),
        ),
      ).toBe(true);
    }

    expect(
      statementsAllowing(scan, 'sqs:SendMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target)
        .sort(),
    ).toEqual(['RequestQueue', 'ScanQueue']);
    expect(
      statementsAllowing(scan, 'sqs:ReceiveMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(['ScanQueue']);
    expect(statementsAllowing(scan, 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([
      SECRET_ARN_PATTERN(run.stage),
    ]);
    const decrypt = statementsAllowing(scan, 'kms:Decrypt');
    expect(decrypt.map((s) => s.Resource)).toEqual([KEYS_OF_ACCOUNT]);
    expect(decrypt[0]!.Condition).toEqual(SECRET_DECRYPT_CONDITION(run.stage));
    expect(decrypt[0]!.Condition).toEqual(
      statementsAllowing(roleStatements(t, 'WorkerRole'), 'kms:Decrypt')[0]!.Condition,
    );
    // Tags and manifests: the repositories the worker may read, no more.
    const workerRead = allStrings(
      statementsAllowing(roleStatements(t, 'WorkerRole'), 'ecr:BatchGetImage').map((s) => s.Resource),
    );
    for (const action of ['ecr:BatchGetImage', 'ecr:ListImages', 'ecr:DescribeImages']) {
      expect(allStrings(statementsAllowing(scan, action).map((s) => s.Resource))).toEqual(workerRead);
    }
  });

  test("the worker's role reads the source, the table, the secret and its own zip, and writes nothing to ECR", () => {
    const t = template();
    const worker = roleStatements(t, 'WorkerRole');
    const actions = allowedActions(worker);
    const expected = [
      'ecr:getauthorizationtoken',
      'ecr:batchgetimage',
      'ecr:getdownloadurlforlayer',
      'ecr:batchchecklayeravailability',
      'ecr:describeimages',
      'ecr:listimages',
      'ecr:describerepositories',
      'ecr:listtagsforresource',
      'dynamodb:getitem',
      'dynamodb:updateitem',
      'secretsmanager:getsecretvalue',
      'kms:decrypt',
      's3:getobject',
      's3:getobjectversion',
      'logs:createloggroup',
      'logs:createlogstream',
      'logs:putlogevents',
    ];
    expect([...actions].sort()).toEqual([...expected].sort());
    for (const action of actions)
      if (action.startsWith('ecr:'))
        expect(isReadOnlyAction(action) || action === 'ecr:getauthorizationtoken').toBe(true);

    // The shipped configurations include prefix:apps/ only: the worker reads those repositories.
    const sourceRead = statementsAllowing(worker, 'ecr:BatchGetImage');
    expect(allStrings(sourceRead.map((s) => s.Resource))).toEqual([
      'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/apps/*',
    ]);
    expect(statementsAllowing(worker, 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([
      SECRET_ARN_PATTERN(run.stage),
    ]);
    // Decrypt through Secrets Manager, for this secret only: the key's policy names the roles, so
    // the roles name no key (that would be a dependency cycle).
    const decrypt = statementsAllowing(worker, 'kms:Decrypt');
    expect(decrypt.map((s) => s.Resource)).toEqual([KEYS_OF_ACCOUNT]);
    expect(decrypt[0]!.Condition).toEqual(SECRET_DECRYPT_CONDITION(run.stage));

    const assume = props(t, 'WorkerRole').AssumeRolePolicyDocument.Statement;
    expect(allStrings(assume.map((s: Loose) => s.Principal))).toEqual(['codebuild.amazonaws.com']);
  });

  test('the CodeBuild project runs the bundled worker on a managed Node.js 22 image, unprivileged, with plain-text settings only', () => {
    const t = template();
    const project = workerProject(t);
    expect(target(project.ServiceRole)).toBe('WorkerRole');
    expect(project.Environment.PrivilegedMode).toBe(false);
    expect(project.Environment.Type).toBe('LINUX_CONTAINER');
    expect(project.Environment.Image).toMatch(/^aws\/codebuild\//);
    expect(project.TimeoutInMinutes).toBeGreaterThanOrEqual(5);
    expect(project.Source.Type).toBe('S3');
    expect(project.Source.BuildSpec).toMatch(/runtime-versions:\s*\n\s*nodejs: 22/);
    expect(project.Source.BuildSpec).toMatch(/- node worker\.js/);

    const variables = (project.Environment.EnvironmentVariables as Loose[]).map((v) =>
      v['Fn::If'] ? v['Fn::If'][1] : v,
    );
    for (const variable of variables) expect(variable.Type).toBe('PLAINTEXT');
    const names = variables.map((v) => v.Name);
    expect(names).toEqual(
      expect.arrayContaining([
        'JOB_TABLE',
        'DEST_SECRET_ID',
        'DEST_REGION',
        'REPLICATION_CONFIG_BUCKET',
        'REPLICATION_CONFIG_KEY',
        'REPLICATION_CONFIG_SHA256',
        'LEASE_SECONDS',
        'DEST_REGISTRY',
        'CREATE_REPOSITORIES',
        'AWS_USE_FIPS_ENDPOINT',
        'DEST_USE_FIPS_ENDPOINT',
        'SOURCE_ACCOUNT_ID',
        'SOURCE_REGION',
        'DEST_API_QUOTAS',
      ]),
    );
    // The configuration lives in the store, not in the environment.
    expect(names).not.toContain('REPLICATION_CONFIG');
    const byName = Object.fromEntries(variables.map((v) => [v.Name, v.Value]));
    expect(byName.JOB_TABLE).toEqual({ Ref: 'JobTable' });
    expect(byName.DEST_SECRET_ID).toBe(props(t, 'DestinationSecret').Name);
    expect(byName.CREATE_REPOSITORIES).toBe('true');
    // Every worker paces its destination calls at ECR's default quotas, every API named.
    expect(byName.DEST_API_QUOTAS).toBe(
      'PutImage=10,InitiateLayerUpload=100,UploadLayerPart=500,CompleteLayerUpload=100,BatchCheckLayerAvailability=1000',
    );
    // The worker refuses requests for another account or region than the stack's own.
    expect(byName.SOURCE_ACCOUNT_ID).toEqual({ Ref: 'AWS::AccountId' });
    expect(byName.SOURCE_REGION).toEqual({ Ref: 'AWS::Region' });
    expect(typeof byName.LEASE_SECONDS).toBe('string');
    // Capacity: a bounded number of worker builds at once.
    expect(project.ConcurrentBuildLimit).toBe(10);
    expect(byName.DEST_REGION).toMatch(/^[a-z]{2}(-[a-z]+)+-\d+$/);
    // Names only: no access key or secret value is ever a build variable.
    expect(JSON.stringify(project.Environment)).not.toMatch(/AKIA|ASIA|SECRETS_MANAGER|PARAMETER_STORE/);
  });

  test("the project's source is this deployment's worker zip, checked by hash before it runs, and its role may read exactly that and the configuration", () => {
    const stack = packaged(run);
    const t = stack.template;
    const key = `${stack.artifactDirectory}/${WORKER_ZIP}`;
    const objectArn = (objectKey: string): Loose => ({
      'Fn::Join': [
        '',
        ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', { Ref: 'ServerlessDeploymentBucket' }, '/', objectKey],
      ],
    });
    expect(workerProject(t).Source.Location).toEqual({
      'Fn::Join': ['/', [{ Ref: 'ServerlessDeploymentBucket' }, key]],
    });
    for (const id of Object.values(FUNCTIONS)) {
      expect(dirname(props(t, id).Code.S3Key)).toBe(stack.artifactDirectory);
    }
    const read = statementsAllowing(roleStatements(t, 'WorkerRole'), 's3:GetObject');
    expect(read).toHaveLength(1);
    expect(read[0]!.Resource).toEqual([objectArn(key), objectArn(`${stack.artifactDirectory}/${CONFIG_FILE}`)]);
    expect(statSync(join(stack.dir, WORKER_ZIP)).size).toBeGreaterThan(10_000);

    // The buildspec checks worker.js against the bundle packaged with this template, right before running it.
    const workerJs = readZip(readFileSync(join(stack.dir, WORKER_ZIP))).find((entry) => entry.name === 'worker.js')!;
    const commands = (workerProject(t).Source.BuildSpec as string).split('\n').map((line) => line.trim());
    const run_ = commands.indexOf('- node worker.js');
    expect(commands[run_ - 1]).toBe(
      `- echo "${createHash('sha256').update(workerJs.data).digest('hex')}  worker.js" | sha256sum --check --strict -`,
    );
  });

  test('the dispatcher may start the worker project only as deployed: every StartBuild override but JOB_KEYS and LEASE_OWNER is denied', () => {
    const t = template();
    const dispatcher = roleStatements(t, roleOf(t, FUNCTIONS.dispatcher));
    const projectArn = {
      'Fn::Sub': `arn:\${AWS::Partition}:codebuild:\${AWS::Region}:\${AWS::AccountId}:project/${workerProject(t).Name}`,
    };
    const denies = dispatcher.filter((s) => s.Effect === 'Deny');
    for (const deny of denies) {
      expect(deny.Action).toEqual(['codebuild:StartBuild']);
      expect(deny.Resource).toEqual(projectArn);
    }
    const nullKeys = denies.filter((s) => s.Condition?.Null).map((s) => Object.entries(s.Condition!.Null as object));
    // One key per statement (keys in one Null block are AND-ed), each denied when present.
    for (const entries of nullKeys) expect(entries).toHaveLength(1);
    const denied = new Set(nullKeys.map((entries) => entries[0]![0]));
    for (const key of [
      'codebuild:source.buildspec',
      'codebuild:source.location',
      'codebuild:source',
      'codebuild:environment.image',
      'codebuild:environment.privilegedMode',
      'codebuild:environment.type',
      'codebuild:environment.computeType',
      'codebuild:serviceRole',
      'codebuild:secondarySources',
      'codebuild:artifacts',
      'codebuild:logsConfig',
      'codebuild:cache',
      'codebuild:encryptionKey',
    ])
      expect(denied).toContain(key);
    expect(nullKeys.every((entries) => entries[0]![1] === 'false')).toBe(true);
    expect(denies.find((s) => s.Sid === 'OnlyJobKeysAndLeaseOwner')?.Condition).toEqual({
      'ForAnyValue:StringNotEquals': { 'codebuild:environment.environmentVariables.name': ['JOB_KEYS', 'LEASE_OWNER'] },
    });
  });

  test("the copy Lambda's role is the worker's minus what only CodeBuild needs, plus a guarded StartBuild to hand jobs over", () => {
    const t = template();
    const copy = roleStatements(t, roleOf(t, FUNCTIONS.copy));
    const worker = roleStatements(t, 'WorkerRole');
    const notLogs = (actions: Set<string>): string[] => [...actions].filter((a) => !a.startsWith('logs:')).sort();
    // The worker's actions but the ones for its zip (s3:GetObjectVersion) and CodeBuild's log group; plus StartBuild,
    // the on-failure destination, and reading the configuration (s3:GetObject, its object only).
    const fromWorker = notLogs(allowedActions(worker)).filter((a) => a !== 's3:getobjectversion');
    expect(notLogs(allowedActions(copy))).toEqual([...fromWorker, 'codebuild:startbuild', 'sqs:sendmessage'].sort());
    // Logs: its own log group only (not CodeBuild's).
    const logs = statementsAllowing(copy, 'logs:PutLogEvents').flatMap((s) => allStrings(s.Resource));
    expect(logs.length).toBeGreaterThan(0);
    for (const resource of logs) expect(resource).toContain(`/aws/lambda/ecr-partition-replicate-${run.stage}-copy`);
    // The same source repositories, secret and key condition as the worker's; writes nothing to ECR.
    for (const action of ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:ListTagsForResource'])
      expect(allStrings(statementsAllowing(copy, action).map((s) => s.Resource))).toEqual(
        allStrings(statementsAllowing(worker, action).map((s) => s.Resource)),
      );
    for (const action of allowedActions(copy))
      if (action.startsWith('ecr:'))
        expect(isReadOnlyAction(action) || action === 'ecr:getauthorizationtoken').toBe(true);
    expect(statementsAllowing(copy, 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([
      SECRET_ARN_PATTERN(run.stage),
    ]);
    expect(statementsAllowing(copy, 'kms:Decrypt')[0]!.Condition).toEqual(SECRET_DECRYPT_CONDITION(run.stage));
    expect(statementsAllowing(copy, 's3:GetObject').flatMap((s) => asArray<Loose>(s.Resource))).toHaveLength(1);
    // StartBuild of the worker project only, with the dispatcher's guard (JOB_KEYS and LEASE_OWNER, nothing else).
    const projectArn = {
      'Fn::Sub': `arn:\${AWS::Partition}:codebuild:\${AWS::Region}:\${AWS::AccountId}:project/${workerProject(t).Name}`,
    };
    expect(statementsAllowing(copy, 'codebuild:StartBuild').map((s) => s.Resource)).toEqual([projectArn]);
    const dispatcherDenies = roleStatements(t, roleOf(t, FUNCTIONS.dispatcher)).filter((s) => s.Effect === 'Deny');
    expect(copy.filter((s) => s.Effect === 'Deny')).toEqual(dispatcherDenies);
    expect(dispatcherDenies.length).toBeGreaterThan(10);
    expect(
      statementsAllowing(copy, 'sqs:SendMessage')
        .flatMap((s) => asArray<Loose>(s.Resource))
        .map(target),
    ).toEqual(['EventsDeadLetterQueue']);
  });

  test('the dispatcher hands its batches to the copy Lambda (asynchronously), which runs 15 minutes with one vCPU', () => {
    const t = template();
    const fn = props(t, FUNCTIONS.copy, 'AWS::Lambda::Function');
    const name = `ecr-partition-replicate-${run.stage}-copy`;
    expect(fn.FunctionName).toBe(name);
    expect(fn.Handler).toBe('packages/copy-lambda/src/handler.handler');
    expect(fn.Timeout).toBe(900);
    expect(fn.MemorySize).toBe(1769);
    expect(environmentOf(t, FUNCTIONS.dispatcher).COPY_FUNCTION_NAME).toBe(name);
    expect(
      statementsAllowing(roleStatements(t, roleOf(t, FUNCTIONS.dispatcher)), 'lambda:InvokeFunction').map(
        (s) => s.Resource,
      ),
    ).toEqual([{ 'Fn::Sub': `arn:\${AWS::Partition}:lambda:\${AWS::Region}:\${AWS::AccountId}:function:${name}` }]);
    // The worker's settings (but its jobs, which come with each invocation), where to hand over, its budget.
    const workerVariables = Object.fromEntries(
      (workerProject(t).Environment.EnvironmentVariables as Loose[])
        .filter((v) => v.Name)
        .map((v) => [v.Name, v.Value]),
    );
    const env = environmentOf(t, FUNCTIONS.copy);
    for (const shared of [
      'JOB_TABLE',
      'DEST_SECRET_ID',
      'DEST_REGION',
      'CREATE_REPOSITORIES',
      'SOURCE_ACCOUNT_ID',
      'SOURCE_REGION',
      'DEST_USE_FIPS_ENDPOINT',
      'LEASE_SECONDS',
      'DEST_API_QUOTAS',
      'REPLICATION_CONFIG_BUCKET',
      'REPLICATION_CONFIG_KEY',
      'REPLICATION_CONFIG_SHA256',
    ])
      expect([shared, env[shared]]).toEqual([shared, workerVariables[shared]]);
    expect(env).toMatchObject({
      WORKER_PROJECT_NAME: workerProject(t).Name,
      COPY_RESERVE_SECONDS: '30',
      COPY_ASSUMED_MIBPS: '40',
    });
    expect(env.JOB_KEYS).toBeUndefined();
    // A failed invocation is tried again, then goes to the events dead-letter queue (watched by an alarm).
    const config = resourcesOfType(t, 'AWS::Lambda::EventInvokeConfig').find(
      ([, c]) => target(c.Properties?.FunctionName) === FUNCTIONS.copy,
    );
    const properties = config![1].Properties as Record<string, Loose>;
    expect(target(properties.DestinationConfig.OnFailure.Destination)).toBe('EventsDeadLetterQueue');
    expect(properties.MaximumRetryAttempts).toBe(2);
  });

  test.each([
    ['RequestQueue', 'RequestQueuePolicy', ['ingest', 'retry', 'sweep', 'scan']],
    ['ScanQueue', 'ScanQueuePolicy', ['repair', 'scan']],
  ] as const)("the %s takes messages only from the stack's senders", (queue, policyId, sendingFunctions) => {
    const t = template();
    const ids = sendingFunctions.map((fn) => FUNCTIONS[fn]);
    const policy = props(t, policyId, 'AWS::SQS::QueuePolicy');
    expect(policy.Queues).toEqual([{ Ref: queue }]);
    const [statement] = policy.PolicyDocument.Statement;
    expect(statement).toMatchObject({ Effect: 'Deny', Principal: '*', Action: 'sqs:SendMessage' });
    expect(target(statement.Resource)).toBe(queue);
    expect(statement.Condition.ArnNotEquals['aws:PrincipalArn']).toEqual(
      ids.map((id) => ({ 'Fn::GetAtt': [roleOf(t, id), 'Arn'] })),
    );
    // Every role that may send is one of them.
    const senders = Object.values(FUNCTIONS).filter((id) =>
      statementsAllowing(roleStatements(t, roleOf(t, id)), 'sqs:SendMessage').some((s) =>
        asArray<Loose>(s.Resource).some((r) => target(r) === queue),
      ),
    );
    expect(senders.sort()).toEqual([...ids].sort());
  });

  test('the job table: on-demand, point-in-time recovery, encrypted, TTL on expiresAt, key jobKey, repository index, kept when the stack goes', () => {
    const table = props(template(), 'JobTable', 'AWS::DynamoDB::Table');
    expect(template().Resources.JobTable).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(table.BillingMode).toBe('PAY_PER_REQUEST');
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.SSESpecification).toEqual({ SSEEnabled: true });
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.KeySchema).toEqual([{ AttributeName: 'jobKey', KeyType: 'HASH' }]);
    // ecr-replicate status REPOSITORY queries this index instead of scanning the table.
    expect(table.GlobalSecondaryIndexes).toEqual([
      {
        IndexName: 'byRepository',
        KeySchema: [
          { AttributeName: 'destinationRepository', KeyType: 'HASH' },
          { AttributeName: 'jobKey', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ]);
  });

  test('the destination secret: a customer managed key that decrypts only for the readers, an empty placeholder, a resource policy, both kept', () => {
    const t = template();
    const secret = props(t, 'DestinationSecret', 'AWS::SecretsManager::Secret');
    expect(target(secret.KmsKeyId)).toBe('DestinationSecretKey');
    for (const id of ['DestinationSecret', 'DestinationSecretKey', 'DestinationSecretKeyAlias'])
      expect(t.Resources[id]).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    const key = props(t, 'DestinationSecretKey', 'AWS::KMS::Key');
    expect(key.EnableKeyRotation).toBe(true);
    const root = { 'Fn::Sub': 'arn:${AWS::Partition}:iam::${AWS::AccountId}:root' };
    const readers = [
      { 'Fn::GetAtt': ['WorkerRole', 'Arn'] },
      { 'Fn::GetAtt': [roleOf(t, FUNCTIONS.scan), 'Arn'] },
      { 'Fn::GetAtt': [roleOf(t, FUNCTIONS.copy), 'Arn'] },
    ];
    const statements = key.KeyPolicy.Statement as Loose[];
    const decrypting = statements.filter((s) => asArray<string>(s.Action).some((a) => /^kms:(Decrypt|\*)$/.test(a)));
    expect(decrypting.map((s) => s.Sid).sort()).toEqual(['SecretReaders', 'SecretWriters']);
    expect(decrypting.find((s) => s.Sid === 'SecretReaders').Principal).toEqual({ AWS: readers });
    // Without an operator role, the account's principals may put the value (Secrets Manager needs
    // GenerateDataKey and Decrypt for that); the secret's resource policy keeps GetSecretValue to the readers.
    expect(decrypting.find((s) => s.Sid === 'SecretWriters').Principal).toEqual({ AWS: root });
    for (const statement of decrypting) expect(statement.Condition).toEqual(SECRET_DECRYPT_CONDITION(run.stage));
    const admin = statements.find((s) => s.Sid === 'KeyAdministration');
    expect(admin.Principal).toEqual({ AWS: root });
    for (const action of asArray<string>(admin.Action))
      expect(action).not.toMatch(/^kms:(\*|Decrypt|Encrypt|GenerateDataKey|ReEncrypt)/);
    const policy = props(t, 'DestinationSecretPolicy', 'AWS::SecretsManager::ResourcePolicy');
    expect(policy.SecretId).toEqual({ Ref: 'DestinationSecret' });
    expect(policy.BlockPublicPolicy).toBe(true);
    expect(policy.ResourcePolicy.Statement).toEqual([
      expect.objectContaining({
        Effect: 'Deny',
        Action: 'secretsmanager:GetSecretValue',
        Condition: { ArnNotEquals: { 'aws:PrincipalArn': readers } },
      }),
    ]);
    const placeholder = JSON.parse(secret.SecretString);
    expect(Object.keys(placeholder).sort()).toEqual([
      'accesskey',
      'accountid',
      'partition',
      'region',
      'secretaccesskey',
      'user',
    ]);
    expect(Object.values(placeholder).every((value) => value === '')).toBe(true);
    expect(secret.GenerateSecretString).toBeUndefined();
  });

  test('every Ref, Fn::GetAtt, DependsOn and Condition names something the template has', () => {
    const t = template();
    const known = new Set([...Object.keys(t.Resources), ...Object.keys((t as Loose).Parameters ?? {})]);
    const problems: string[] = [];
    const walk = (value: Loose, where: string): void => {
      if (Array.isArray(value)) return value.forEach((item) => walk(item, where));
      if (value === null || typeof value !== 'object') return;
      if (typeof value.Ref === 'string' && !value.Ref.startsWith('AWS::') && !known.has(value.Ref))
        problems.push(`${where}: Ref ${value.Ref}`);
      const getAtt = target({ 'Fn::GetAtt': value['Fn::GetAtt'] });
      if (value['Fn::GetAtt'] !== undefined && (getAtt === undefined || !known.has(getAtt)))
        problems.push(`${where}: GetAtt ${JSON.stringify(value['Fn::GetAtt'])}`);
      if (Array.isArray(value['Fn::If']) && !(value['Fn::If'][0] in (t.Conditions ?? {})))
        problems.push(`${where}: condition ${value['Fn::If'][0]}`);
      Object.values(value).forEach((item) => walk(item, where));
    };
    for (const [id, item] of Object.entries(t.Resources)) {
      walk(item.Properties ?? {}, id);
      for (const dependency of asArray(item.DependsOn))
        if (!known.has(dependency)) problems.push(`${id}: DependsOn ${dependency}`);
      if (item.Condition !== undefined && !(item.Condition in (t.Conditions ?? {})))
        problems.push(`${id}: condition ${item.Condition}`);
    }
    walk(t.Outputs ?? {}, 'Outputs');
    expect(problems).toEqual([]);
  });

  test('every ARN is partition-agnostic', () => {
    const strings = allStrings(template());
    expect(strings.filter((s) => /arn:aws[a-z-]*:/.test(s))).toEqual([]);
    for (const arn of strings.filter((s) => s.startsWith('arn:') && s !== 'arn:'))
      expect(arn).toMatch(/^arn:\$\{AWS::Partition\}:/);
  });

  test('alarms watch the dead-letter queues, failed replications, failed worker builds, ingest errors, repair runs and scans', () => {
    const t = template();
    const alarms = resourcesOfType(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties as Record<string, Loose>);
    const find = (
      namespace: string,
      metric: string,
      dimension: Record<string, Loose>,
    ): Record<string, Loose> | undefined =>
      alarms.find(
        (a) =>
          a.Namespace === namespace &&
          a.MetricName === metric &&
          JSON.stringify(a.Dimensions) ===
            JSON.stringify(Object.entries(dimension).map(([Name, Value]) => ({ Name, Value }))),
      );
    for (const queue of [
      'RequestDeadLetterQueue',
      'RetryDeadLetterQueue',
      'EventsDeadLetterQueue',
      'ScanDeadLetterQueue',
    ]) {
      const alarm = find('AWS/SQS', 'ApproximateNumberOfMessagesVisible', { QueueName: props(t, queue).QueueName });
      expect(alarm).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
    }
    expect(find('AWS/CodeBuild', 'FailedBuilds', { ProjectName: workerProject(t).Name })).toBeDefined();
    expect(find('AWS/Lambda', 'Errors', { FunctionName: props(t, FUNCTIONS.ingest).FunctionName })).toBeDefined();
    expect(find('EcrPartitionReplicate', 'EventsRejected', { service: 'ingest' })).toBeDefined();
    expect(find('AWS/Lambda', 'Errors', { FunctionName: props(t, FUNCTIONS.repair).FunctionName })).toMatchObject({
      Threshold: 0,
      Statistic: 'Sum',
    });
    expect(find('EcrPartitionReplicate', 'RepairFailures', { service: 'repair' })).toMatchObject({
      Threshold: 0,
      Statistic: 'Sum',
    });
    expect(find('AWS/Lambda', 'Errors', { FunctionName: props(t, FUNCTIONS.scan).FunctionName })).toMatchObject({
      Threshold: 0,
      Statistic: 'Sum',
    });
    // A backfill that stops moving: the scan queue's oldest unit.
    expect(
      find('AWS/SQS', 'ApproximateAgeOfOldestMessage', { QueueName: props(t, 'ScanQueue').QueueName }),
    ).toMatchObject({ Threshold: 21600, ComparisonOperator: 'GreaterThanThreshold' });

    // Jobs given up by the dispatcher and by the worker: one alarm on the sum of both (either may have no data).
    const failed = props(t, 'ReplicationsFailedAlarm', 'AWS::CloudWatch::Alarm');
    expect(failed).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'notBreaching',
      EvaluationPeriods: 1,
    });
    const queries = failed.Metrics as Loose[];
    const returned = queries.filter((q) => q.ReturnData !== false);
    expect(returned).toHaveLength(1);
    const stats = queries.filter((q) => q.MetricStat !== undefined);
    expect(
      stats
        .map((q) => ({ ...q.MetricStat.Metric, Stat: q.MetricStat.Stat, ReturnData: q.ReturnData }))
        .sort((a, b) => (a.Dimensions[0].Value < b.Dimensions[0].Value ? -1 : 1)),
    ).toEqual(
      ['dispatcher', 'worker'].map((service) => ({
        Namespace: 'EcrPartitionReplicate',
        MetricName: 'ReplicationsFailed',
        Dimensions: [{ Name: 'service', Value: service }],
        Stat: 'Sum',
        ReturnData: false,
      })),
    );
    const expression = (returned[0].Expression as string).replace(/\s+/g, '');
    for (const q of stats) expect(expression).toContain(`FILL(${q.Id},0)`);
    expect(expression).toBe(stats.map((q) => `FILL(${q.Id},0)`).join('+'));
    for (const q of stats) expect(q.MetricStat.Period).toBe(300);
    for (const alarm of alarms)
      expect(alarm.AlarmActions).toEqual({
        'Fn::If': ['HasAlarmEmail', [{ Ref: 'AlarmTopic' }], { Ref: 'AWS::NoValue' }],
      });
    expect(t.Resources.AlarmTopic).toMatchObject({ Type: 'AWS::SNS::Topic', Condition: 'HasAlarmEmail' });
  });
});

// ---- bundles --------------------------------------------------------------

const LAMBDA_ZIP_LIMIT = 1.5 * 1024 * 1024;
const WORKER_ZIP_LIMIT = 3 * 1024 * 1024;
const BUILTINS = new Set(builtinModules);
/**
 * The AWS SDK's optional SigV4a signers: named in an error message and
 * loaded only for multi-region access points, which nothing here uses.
 */
const OPTIONAL_MODULES = new Set(['@aws-sdk/signature-v4-crt', '@aws-sdk/signature-v4a']);

/** Modules a bundle names in require() that are neither Node.js built-ins nor optional. */
function externalRequires(code: string): string[] {
  const names = [...code.matchAll(/\brequire\(\s*["'`]([^"'`]+)["'`]\s*\)/g)].map((match) => match[1] as string);
  const external = names.filter(
    (name) => !name.startsWith('node:') && !BUILTINS.has(name.split('/')[0] as string) && !OPTIONAL_MODULES.has(name),
  );
  return [...new Set(external)];
}

function extract(zipFile: string): { dir: string; names: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'stack-tests-zip-'));
  const entries = readZip(readFileSync(zipFile));
  for (const entry of entries) {
    mkdirSync(join(dir, dirname(entry.name)), { recursive: true });
    writeFileSync(join(dir, entry.name), entry.data);
  }
  return { dir, names: entries.map((entry) => entry.name) };
}

/** Plausible values for a function's environment (references resolved to names and URLs). */
function plausibleEnvironment(t: Template, region: string, variables: Record<string, Loose>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'string') env[name] = value;
    else if (typeof value === 'number') env[name] = String(value);
    else if (Array.isArray(value?.['Fn::If']) && target(value['Fn::If'][2]) === 'AWS::NoValue')
      continue; // set only under a condition the shipped parameters leave false
    else {
      const ref = target(value);
      const resource = ref === undefined ? undefined : t.Resources[ref];
      if (resource?.Type === 'AWS::SQS::Queue')
        env[name] = `https://sqs.${region}.amazonaws.com/123456789012/${resource.Properties?.QueueName}`;
      else if (resource?.Type === 'AWS::DynamoDB::Table') env[name] = String(resource.Properties?.TableName);
      else if (resource?.Type === 'AWS::S3::Bucket') env[name] = 'deployment-bucket';
      else if (ref === 'AWS::AccountId') env[name] = '123456789012';
      else if (ref === 'AWS::Region') env[name] = region;
      else throw new Error(`no plausible value for ${name}`);
    }
  }
  return env;
}

describe('bundles', () => {
  const run: Run = { stage: 'dev', region: 'us-east-1' };
  const extracted: string[] = [];
  afterAll(() => extracted.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  test('zip sizes (every stage and region)', () => {
    const sizes: Record<string, Record<string, number>> = {};
    for (const current of SOURCE_RUNS) {
      const stack = packaged(current);
      const files = [
        ...Object.values(FUNCTIONS).map((id) => basename(props(stack.template, id).Code.S3Key as string)),
        WORKER_ZIP,
      ];
      sizes[runKey(current)] = Object.fromEntries(files.map((file) => [file, statSync(join(stack.dir, file)).size]));
      for (const file of files)
        expect(sizes[runKey(current)]![file]).toBeLessThan(file === WORKER_ZIP ? WORKER_ZIP_LIMIT : LAMBDA_ZIP_LIMIT);
    }
    mkdirSync(join(__dirname, '..', '..', 'reports'), { recursive: true });
    writeFileSync(join(__dirname, '..', '..', 'reports', 'bundle-sizes.json'), `${JSON.stringify(sizes, null, 2)}\n`);
    const first = sizes[runKey(run)]!;
    console.log(
      `bundle sizes (${runKey(run)}):\n${Object.entries(first)
        .map(([file, size]) => `  ${file.padEnd(18)} ${(size / 1024).toFixed(0)} KiB`)
        .join('\n')}`,
    );
  });

  test.each(Object.entries(FUNCTIONS))(
    '%s: one bundled module with its source map, and it loads under Node.js',
    (_name, functionId) => {
      const stack = packaged(run);
      const fn = props(stack.template, functionId);
      const { dir, names } = extract(join(stack.dir, basename(fn.Code.S3Key)));
      extracted.push(dir);
      const [modulePath, exportName] = [
        fn.Handler.slice(0, fn.Handler.lastIndexOf('.')),
        fn.Handler.slice(fn.Handler.lastIndexOf('.') + 1),
      ];
      expect(names.sort()).toEqual([`${modulePath}.js`, `${modulePath}.js.map`]);
      const code = readFileSync(join(dir, `${modulePath}.js`), 'utf8');
      expect(externalRequires(code)).toEqual([]);
      expect(code).toMatch(new RegExp(`//# sourceMappingURL=${basename(modulePath)}\\.js\\.map\\s*$`));
      expect(
        JSON.parse(readFileSync(join(dir, `${modulePath}.js.map`), 'utf8')).sources.some((s: string) =>
          s.includes('packages/'),
        ),
      ).toBe(true);

      const env = {
        PATH: process.env.PATH ?? '',
        AWS_REGION: run.region,
        ...plausibleEnvironment(stack.template, run.region, fn.Environment.Variables),
      };
      const probe = `const m = require(${JSON.stringify(join(dir, `${modulePath}.js`))}); process.stdout.write(JSON.stringify({ type: typeof m[${JSON.stringify(exportName)}] }));`;
      const result = spawnSync(process.execPath, ['-e', probe], { env, cwd: dir, encoding: 'utf8', timeout: 30_000 });
      expect({ status: result.status, stderr: result.status === 0 ? '' : result.stderr }).toEqual({
        status: 0,
        stderr: '',
      });
      expect(JSON.parse(result.stdout)).toEqual({ type: 'function' });
    },
  );

  test('the worker zip holds worker.js (every dependency inside) and its map, and worker.js runs: without settings it names them and exits 1', () => {
    const stack = packaged(run);
    const { dir, names } = extract(join(stack.dir, WORKER_ZIP));
    extracted.push(dir);
    expect(names.sort()).toEqual(['worker.js', 'worker.js.map']);
    expect(externalRequires(readFileSync(join(dir, 'worker.js'), 'utf8'))).toEqual([]);
    const result = spawnSync(process.execPath, ['--enable-source-maps', 'worker.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    const output = `${result.stdout}${result.stderr}`;
    for (const name of ['JOB_TABLE', 'JOB_KEYS', 'LEASE_OWNER', 'DEST_SECRET_ID']) expect(output).toContain(name);
  });
});

// ---- the worker zip reaches the deployment bucket with sls deploy ----------

describe('sls deploy --package', () => {
  test('uploads the worker zip next to the Lambda zips, before CloudFormation is asked to update the stack (GovCloud, fake AWS on 127.0.0.1)', async () => {
    const stack = packaged({ stage: 'dev', region: 'us-gov-west-1' });
    const fake = await startFakeAws('aws-us-gov', 'us-gov-west-1');
    try {
      const env = offlineEnv({
        AWS_ACCESS_KEY_ID: 'AKIAFAKEFAKEFAKEFAKE',
        AWS_SECRET_ACCESS_KEY: 'fake-secret-access-key-for-tests',
        AWS_ENDPOINT_URL: fake.url,
        AWS_MAX_ATTEMPTS: '1',
      });
      const result = await runSls(
        ['deploy', '--stage', 'dev', '--region', 'us-gov-west-1', '--package', stack.dir],
        stack.serviceDir,
        env,
        120_000,
      );
      expect(result.output).toContain('fake AWS ends the deployment at ValidateTemplate');

      const byKey = new Map(fake.objects.map((object) => [object.key, object]));
      const workerKey = `${stack.artifactDirectory}/${WORKER_ZIP}`;
      const worker = byKey.get(workerKey);
      expect(worker).toBeDefined();
      const local = readFileSync(join(stack.dir, WORKER_ZIP));
      expect(createHash('sha256').update(worker!.body).digest('hex')).toBe(
        createHash('sha256').update(local).digest('hex'),
      );
      expect(worker!.metadata.filesha256).toBe(createHash('sha256').update(local).digest('base64'));

      for (const id of Object.values(FUNCTIONS)) expect(byKey.has(props(stack.template, id).Code.S3Key)).toBe(true);
      const uploadedTemplate = JSON.parse(
        byKey.get(`${stack.artifactDirectory}/compiled-cloudformation-template.json`)!.body.toString('utf8'),
      ) as Template;
      expect(workerProject(uploadedTemplate).Source.Location['Fn::Join'][1][1]).toBe(workerKey);

      const workerPut = fake.requests.indexOf(`PUT /${fake.bucket}/${workerKey}`);
      expect(workerPut).toBeGreaterThan(-1);
      expect(fake.requests.indexOf('POST ValidateTemplate')).toBeGreaterThan(workerPut);
    } finally {
      await fake.close();
    }
  });
});

// ---- cfn-lint ---------------------------------------------------------------

const HAS_CFN_LINT = available('cfn-lint');
if (!HAS_CFN_LINT) warnSkipped('cfn-lint', 'linting the packaged source templates is');

(HAS_CFN_LINT ? test : test.skip)(
  'cfn-lint: no error, warning or informational finding in any packaged source template (dev and prod in us-east-1, us-gov-west-1, cn-north-1)',
  () => {
    const packages = [...stacks.values()];
    expect(packages.map((item) => `${item.stage}/${item.region}`).sort()).toEqual(RUNS.map(runKey).sort());
    expect(lintPackagedTemplates(packages)).toEqual([]);
  },
  300_000,
);

test('the deployer policy (deploy/policies/deployer-source.json) covers every resource type of every packaged template', () => {
  const policy = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy', 'policies', 'deployer-source.json'), 'utf8'));
  const prefixes = new Set(
    (policy.Statement as Array<{ Action: string[] }>).flatMap((s) => s.Action.map((a) => a.split(':')[0])),
  );
  const types = new Set(
    [...stacks.values()].flatMap((item) => Object.values(item.template.Resources).map((r) => r.Type)),
  );
  const service = (type: string): string =>
    ({ CloudWatch: 'cloudwatch', Events: 'events', SecretsManager: 'secretsmanager' })[type.split('::')[1]!] ??
    type.split('::')[1]!.toLowerCase();
  expect([...types].filter((type) => !prefixes.has(service(type)))).toEqual([]);
  expect(prefixes.has('cloudformation')).toBe(true);
});
