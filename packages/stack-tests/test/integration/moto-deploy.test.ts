import { createHash } from 'node:crypto';
import { CloudFormationClient, GetTemplateCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeRuleCommand,
  EventBridgeClient,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  type Target,
} from '@aws-sdk/client-eventbridge';
import {
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetUserCommand,
  IAMClient,
  ListAttachedUserPoliciesCommand,
} from '@aws-sdk/client-iam';
import { GetKeyRotationStatusCommand, KMSClient, ListAliasesCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import {
  mirrorRepository,
  offlineEnv,
  removeMirrors,
  runSls,
  SERVICE_DIRS,
  type RunResult,
  type StackName,
} from '../support/packaging';
import { ACCOUNT, codeBuildStateChangeEvent, ecrDeleteEvent, ecrPushEvent } from '../support/sample-events';
import { available, startMoto, warnSkipped, type Moto } from '../support/tools';
import type { Loose } from '../support/template';

/**
 * A real `sls deploy` of both stacks (dev) into moto_server, an AWS emulator on
 * 127.0.0.1 (osls follows AWS_ENDPOINT_URL), in a commercial and a GovCloud
 * region; then the deployed resources are read back through the AWS SDK, and
 * the deployed rules are given AWS's documented sample events.
 *
 * moto's CloudFormation creates the queues, the table and its TTL, the KMS
 * key and alias, the rules and their targets, the roles, the Lambdas and the
 * destination user; it skips (with a warning) the types it does not
 * implement: AWS::SecretsManager::Secret and ResourcePolicy,
 * AWS::SQS::QueuePolicy, AWS::CodeBuild::Project, AWS::CloudWatch::Alarm,
 * AWS::Lambda::EventInvokeConfig. Those are checked here in the template the
 * stack was deployed with (read back with GetTemplate), and in the template
 * tests. moto 5.2's TestEventPattern answers nothing (its handler is a stub),
 * so the rules' patterns are exercised through PutEvents, moto's own event
 * matching, with a probe queue as the rule's target during the test.
 */

const HAS_MOTO = available('moto_server');
if (!HAS_MOTO) warnSkipped('moto_server', 'the deployments to an AWS emulator are');
const describeWithMoto = HAS_MOTO ? describe : describe.skip;

const REGIONS = ['us-east-1', 'us-gov-west-1'] as const;
type Region = (typeof REGIONS)[number];
const PARTITION: Record<Region, string> = { 'us-east-1': 'aws', 'us-gov-west-1': 'aws-us-gov' };
const SERVICE = 'ecr-partition-replicate';
const STAGE = 'dev';
const name = (suffix: string): string => `${SERVICE}-${STAGE}-${suffix}`;

let moto: Moto | undefined;
const deployments = new Map<string, RunResult>();

function clientConfig(region: Region): Loose {
  return {
    region,
    endpoint: moto!.url,
    forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 2,
  };
}

/** The resources of the template a stack was deployed with (CloudFormation's GetTemplate). */
async function deployedTemplate(region: Region, stackName = `${SERVICE}-${STAGE}`): Promise<Record<string, Loose>> {
  const cloudformation = new CloudFormationClient(clientConfig(region));
  const { TemplateBody } = await cloudformation.send(new GetTemplateCommand({ StackName: stackName }));
  return JSON.parse(TemplateBody!).Resources as Record<string, Loose>;
}

/** The ARN of a role of the source stack, as deployed. */
async function roleArn(region: Region, logicalId: string): Promise<string> {
  const cloudformation = new CloudFormationClient(clientConfig(region));
  const { StackResourceSummaries } = await cloudformation.send(
    new ListStackResourcesCommand({ StackName: `${SERVICE}-${STAGE}` }),
  );
  const role = (StackResourceSummaries ?? []).find((r) => r.LogicalResourceId === logicalId);
  if (role?.PhysicalResourceId === undefined) throw new Error(`the stack has no ${logicalId}`);
  const iam = new IAMClient(clientConfig(region));
  return (await iam.send(new GetRoleCommand({ RoleName: role.PhysicalResourceId }))).Role!.Arn!;
}

/** `value` with every `{ Fn::GetAtt: [id, 'Arn'] }` of `arns` replaced by the ARN. */
function resolveGetAtt(value: Loose, arns: Record<string, string>): Loose {
  return JSON.parse(
    JSON.stringify(value).replace(/\{"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]\}/g, (whole, id: string) =>
      arns[id] === undefined ? whole : JSON.stringify(arns[id]),
    ),
  );
}

/** `value` with its `Fn::Sub` of pseudo parameters resolved as in `region` of the emulator's account. */
function substitute(value: Loose, region: Region): Loose {
  return JSON.parse(
    JSON.stringify(value)
      .replace(/\{"Fn::Sub":"([^"]*)"\}/g, (_, text: string) => JSON.stringify(text))
      .replaceAll('${AWS::Partition}', PARTITION[region])
      .replaceAll('${AWS::Region}', region)
      .replaceAll('${AWS::AccountId}', ACCOUNT)
      .replaceAll('${AWS::URLSuffix}', 'amazonaws.com'),
  );
}

async function deploy(stack: StackName, region: Region): Promise<RunResult> {
  const { root, serviceDir } = mirrorRepository(SERVICE_DIRS[stack]);
  const env = offlineEnv({
    TMPDIR: root,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_ENDPOINT_URL: moto!.url,
    AWS_MAX_ATTEMPTS: '3',
  });
  return runSls(['deploy', '--stage', STAGE, '--region', region], serviceDir, env, 240_000);
}

beforeAll(async () => {
  if (!HAS_MOTO) return;
  moto = await startMoto();
  // One region after the other (the destination stack first, as the runbook does); each deploy packages too.
  for (const region of REGIONS) {
    for (const stack of ['destination', 'source'] as const) {
      const result = await deploy(stack, region);
      deployments.set(`${stack}/${region}`, result);
      console.log(`sls deploy ${stack} ${STAGE} ${region} into moto: ${(result.durationMs / 1000).toFixed(1)} s`);
    }
  }
}, 600_000);

afterAll(async () => {
  await moto?.stop();
  removeMirrors();
});

describeWithMoto.each(REGIONS)('sls deploy into moto_server, dev in %s', (region) => {
  const partition = PARTITION[region];
  const arn = (service: string, resource: string): string =>
    `arn:${partition}:${service}:${region}:${ACCOUNT}:${resource}`;

  test('both stacks deploy', () => {
    for (const stack of ['destination', 'source']) {
      const result = deployments.get(`${stack}/${region}`)!;
      expect({ stack, code: result.code, output: result.code === 0 ? '' : result.output }).toEqual({
        stack,
        code: 0,
        output: '',
      });
      expect(result.output).toMatch(/Service deployed to stack/);
    }
  });

  test('the request queue: FIFO, explicit deduplication, visibility, encryption, redrive to its FIFO dead-letter queue', async () => {
    const sqs = new SQSClient(clientConfig(region));
    const attributes = async (queue: string): Promise<Record<string, string>> => {
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: queue }));
      return (await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes ?? {};
    };
    const requests = await attributes(name('requests.fifo'));
    expect(requests).toMatchObject({
      FifoQueue: 'true',
      ContentBasedDeduplication: 'false',
      VisibilityTimeout: '360',
      MessageRetentionPeriod: '1209600',
      SqsManagedSseEnabled: 'true',
    });
    expect(JSON.parse(requests.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: arn('sqs', name('requests-dlq.fifo')),
      maxReceiveCount: 5,
    });
    expect((await attributes(name('requests-dlq.fifo'))).FifoQueue).toBe('true');
    const retries = await attributes(name('retries'));
    expect(JSON.parse(retries.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: arn('sqs', name('retries-dlq')),
      maxReceiveCount: 5,
    });
    expect(retries.VisibilityTimeout).toBe('180');
  });

  test('the job table: its key and repository index, on-demand billing; TTL on expiresAt and point-in-time recovery as deployed', async () => {
    const dynamodb = new DynamoDBClient(clientConfig(region));
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name('jobs') }));
    expect(Table?.KeySchema).toEqual([{ AttributeName: 'jobKey', KeyType: 'HASH' }]);
    expect(Table?.AttributeDefinitions).toEqual([
      { AttributeName: 'jobKey', AttributeType: 'S' },
      { AttributeName: 'destinationRepository', AttributeType: 'S' },
    ]);
    // ecr-replicate status REPOSITORY queries this index.
    expect(Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.KeySchema])).toEqual([
      [
        'byRepository',
        [
          { AttributeName: 'destinationRepository', KeyType: 'HASH' },
          { AttributeName: 'jobKey', KeyType: 'RANGE' },
        ],
      ],
    ]);
    expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(Table?.TableArn).toBe(arn('dynamodb', `table/${name('jobs')}`));
    // moto's CloudFormation leaves TTL and point-in-time recovery off: what the deployed template asks for.
    const table = (await deployedTemplate(region)).JobTable.Properties;
    expect(table.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(table.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  test("the secret's key: rotated; decrypt only for the worker's, scan's and copy Lambda's roles, with the secret's encryption context", async () => {
    const kms = new KMSClient(clientConfig(region));
    const aliases = (await kms.send(new ListAliasesCommand({}))).Aliases ?? [];
    const alias = aliases.find((a) => a.AliasName === `alias/${name('destination-secret')}`);
    expect(alias?.TargetKeyId).toBeDefined();
    const keys = (await kms.send(new ListKeysCommand({}))).Keys ?? [];
    expect(keys.find((key) => key.KeyId === alias!.TargetKeyId)?.KeyArn).toMatch(
      new RegExp(`^arn:${partition}:kms:${region}:${ACCOUNT}:key/`),
    );
    expect((await kms.send(new GetKeyRotationStatusCommand({ KeyId: alias!.TargetKeyId }))).KeyRotationEnabled).toBe(
      true,
    );
    // moto cannot return this key's policy (see above): the deployed template's, resolved with the
    // ARNs moto gave the roles.
    const policy = substitute(
      resolveGetAtt((await deployedTemplate(region)).DestinationSecretKey.Properties.KeyPolicy, {
        WorkerRole: await roleArn(region, 'WorkerRole'),
        ScanIamRoleLambdaExecution: await roleArn(region, 'ScanIamRoleLambdaExecution'),
        CopyIamRoleLambdaExecution: await roleArn(region, 'CopyIamRoleLambdaExecution'),
      }),
      region,
    );
    const decrypting = (policy.Statement as Loose[]).filter((s) =>
      ([] as string[]).concat(s.Action).some((a) => a === 'kms:Decrypt' || a === 'kms:*'),
    );
    const readers = decrypting.find((s) => s.Sid === 'SecretReaders');
    const principals = ([] as string[]).concat(readers.Principal.AWS);
    expect(principals).toHaveLength(3);
    for (const principal of principals)
      expect(principal).toMatch(new RegExp(`^arn:${partition}:iam::${ACCOUNT}:role/`));
    expect(principals.some((p) => p.includes('scan'))).toBe(true);
    expect(principals.some((p) => p.includes('copy'))).toBe(true);
    for (const statement of decrypting) {
      expect(statement.Condition.StringEquals['kms:ViaService']).toBe(`secretsmanager.${region}.amazonaws.com`);
      expect(statement.Condition.StringLike['kms:EncryptionContext:SecretARN']).toBe(
        arn('secretsmanager', `secret:${SERVICE}/${STAGE}/destination-??????`),
      );
    }
    // The account administers the key but cannot decrypt with it.
    const admin = (policy.Statement as Loose[]).find((s) => s.Sid === 'KeyAdministration');
    expect(admin.Action).not.toContain('kms:Decrypt');
    expect(admin.Action).not.toContain('kms:*');
  });

  test('the deployed template keeps the secret, its key and the table, and the secret has a resource policy (types moto does not create)', async () => {
    const resources = await deployedTemplate(region);
    for (const id of ['DestinationSecret', 'DestinationSecretKey', 'DestinationSecretKeyAlias', 'JobTable'])
      expect({
        id,
        DeletionPolicy: resources[id].DeletionPolicy,
        UpdateReplacePolicy: resources[id].UpdateReplacePolicy,
      }).toEqual({ id, DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
    expect(resources.DestinationSecretPolicy.Properties.SecretId).toEqual({ Ref: 'DestinationSecret' });
    expect(resources.RequestQueuePolicy.Properties.PolicyDocument.Statement[0]).toMatchObject({
      Effect: 'Deny',
      Action: 'sqs:SendMessage',
    });
  });

  test('the configuration store: the object the functions name is deployed, and hashes to what they expect', async () => {
    const lambda = new LambdaClient(clientConfig(region));
    const s3 = new S3Client(clientConfig(region));
    for (const fn of ['ingest', 'repair', 'copy', 'scan']) {
      const configuration = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: name(fn) }));
      const variables = configuration.Environment?.Variables ?? {};
      expect(variables.REPLICATION_CONFIG).toBeUndefined();
      const object = await s3.send(
        new GetObjectCommand({ Bucket: variables.REPLICATION_CONFIG_BUCKET, Key: variables.REPLICATION_CONFIG_KEY }),
      );
      const body = Buffer.from(await object.Body!.transformToByteArray());
      expect(createHash('sha256').update(body).digest('hex')).toBe(variables.REPLICATION_CONFIG_SHA256);
      expect(JSON.parse(body.toString('utf8'))).toEqual({ repositories: { include: ['prefix:apps/'] }, deletes: true });
      expect(variables.AWS_USE_FIPS_ENDPOINT).toBe(String(region === 'us-gov-west-1'));
      // Lambda's limit on the environment, as deployed.
      expect(Buffer.byteLength(Object.entries(variables).flat().join(''))).toBeLessThan(4096);
    }
  });

  test('the rules: pinned to the account, their targets with retries and the events dead-letter queue', async () => {
    const events = new EventBridgeClient(clientConfig(region));
    const imageAction = await events.send(new DescribeRuleCommand({ Name: name('image-action') }));
    expect(JSON.parse(imageAction.EventPattern!)).toEqual({
      source: ['aws.ecr'],
      'detail-type': ['ECR Image Action'],
      account: [ACCOUNT],
      detail: { result: ['SUCCESS'], 'action-type': ['PUSH', 'DELETE'], 'repository-name': [{ prefix: 'apps/' }] },
    });
    const buildState = await events.send(new DescribeRuleCommand({ Name: name('worker-build-state') }));
    expect(JSON.parse(buildState.EventPattern!)).toEqual({
      source: ['aws.codebuild'],
      'detail-type': ['CodeBuild Build State Change'],
      account: [ACCOUNT],
      detail: { 'build-status': ['FAILED', 'FAULT', 'STOPPED', 'TIMED_OUT'], 'project-name': [name('worker')] },
    });
    for (const [rule, fn] of [
      ['image-action', 'ingest'],
      ['worker-build-state', 'buildState'],
    ]) {
      const { Targets } = await events.send(new ListTargetsByRuleCommand({ Rule: name(rule!) }));
      expect(Targets).toHaveLength(1);
      expect(Targets![0]).toMatchObject({
        Arn: arn('lambda', `function:${name(fn!)}`),
        DeadLetterConfig: { Arn: arn('sqs', name('events-dlq')) },
        RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
      });
    }
  });

  test("the deployed patterns select AWS's sample events as the handlers expect (moto's event matching through PutEvents)", async () => {
    const events = new EventBridgeClient(clientConfig(region));
    const sqs = new SQSClient(clientConfig(region));
    const probe = await sqs.send(new CreateQueueCommand({ QueueName: `probe-${Date.now()}` }));
    const probeArn = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: probe.QueueUrl, AttributeNames: ['QueueArn'] }))
    ).Attributes!.QueueArn!;

    /**
     * Which of `samples` the deployed rule `rule` matches: meanwhile the probe queue is its only
     * target and the other rules have none.
     */
    const matched = async (rule: string, samples: Array<Record<string, unknown>>): Promise<string[]> => {
      const rules = ((await events.send(new ListRulesCommand({}))).Rules ?? []).map((r) => r.Name!);
      const saved = new Map<string, Target[]>();
      for (const each of rules) {
        const targets = (await events.send(new ListTargetsByRuleCommand({ Rule: each }))).Targets ?? [];
        saved.set(each, targets);
        if (targets.length > 0)
          await events.send(new RemoveTargetsCommand({ Rule: each, Ids: targets.map((t) => t.Id!) }));
      }
      await events.send(new PutTargetsCommand({ Rule: rule, Targets: [{ Id: 'probe', Arn: probeArn }] }));
      try {
        for (const [index, sample] of samples.entries()) {
          const result = await events.send(
            new PutEventsCommand({
              Entries: [
                {
                  Source: sample.source as string,
                  DetailType: sample['detail-type'] as string,
                  Detail: JSON.stringify({ ...(sample.detail as object), probe: index }),
                  Resources: sample.resources as string[],
                },
              ],
            }),
          );
          expect(result.FailedEntryCount).toBe(0);
        }
        const received: string[] = [];
        for (let round = 0; round < 3; round += 1) {
          const { Messages } = await sqs.send(
            new ReceiveMessageCommand({ QueueUrl: probe.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
          );
          for (const message of Messages ?? []) received.push(String(JSON.parse(message.Body!).detail.probe));
          if ((Messages ?? []).length === 0) break;
        }
        return received.sort();
      } finally {
        await events.send(new RemoveTargetsCommand({ Rule: rule, Ids: ['probe'] }));
        for (const [each, targets] of saved)
          if (targets.length > 0) await events.send(new PutTargetsCommand({ Rule: each, Targets: targets }));
      }
    };

    try {
      // The samples as documented (repository "my-repository-name") fall outside the configuration's
      // prefix; the same events in a configured repository are selected, pushes and (dev) deletes alike.
      const failedPush = ecrPushEvent('apps/web');
      (failedPush.detail as Record<string, unknown>).result = 'FAILURE';
      expect(
        await matched(name('image-action'), [
          ecrPushEvent(),
          ecrDeleteEvent(),
          ecrPushEvent('apps/web'),
          ecrDeleteEvent('apps/web'),
          failedPush,
          ecrPushEvent('application/web'),
        ]),
      ).toEqual(['2', '3']);
      expect(
        await matched(
          name('worker-build-state'),
          ['SUCCEEDED', 'FAILED', 'IN_PROGRESS', 'STOPPED', 'TIMED_OUT', 'FAULT']
            .map((status) => codeBuildStateChangeEvent(name('worker'), status))
            .concat([codeBuildStateChangeEvent('another-project', 'FAILED')]),
        ),
      ).toEqual(['1', '3', '4', '5']);
      // The deployed targets are back.
      const { Targets } = await events.send(new ListTargetsByRuleCommand({ Rule: name('image-action') }));
      expect(Targets!.map((t) => t.Arn)).toEqual([arn('lambda', `function:${name('ingest')}`)]);
    } finally {
      await sqs.send(new DeleteQueueCommand({ QueueUrl: probe.QueueUrl }));
    }
  });

  test("the destination user may write only the configuration's mapped repositories, and create them", async () => {
    const iam = new IAMClient(clientConfig(region));
    const { User } = await iam.send(new GetUserCommand({ UserName: `${SERVICE}-${STAGE}` }));
    expect(User?.Arn).toBe(`arn:${partition}:iam::${ACCOUNT}:user/${SERVICE}-${STAGE}`);
    // The repositories are in a managed policy attached to the user.
    const { AttachedPolicies } = await iam.send(
      new ListAttachedUserPoliciesCommand({ UserName: `${SERVICE}-${STAGE}` }),
    );
    expect(AttachedPolicies).toHaveLength(1);
    const { Policy } = await iam.send(new GetPolicyCommand({ PolicyArn: AttachedPolicies![0]!.PolicyArn }));
    const { PolicyVersion } = await iam.send(
      new GetPolicyVersionCommand({ PolicyArn: Policy!.Arn, VersionId: Policy!.DefaultVersionId }),
    );
    const statements = JSON.parse(decodeURIComponent(PolicyVersion!.Document!)).Statement as Loose[];
    const write = statements.find((s) => s.Sid === 'ReplicaRepositories');
    // moto resolves ${AWS::Partition} in Fn::Sub to "aws" in every region (its ARNs from GetAtt are right):
    // the partition-agnostic template is checked by the template tests.
    expect(([] as string[]).concat(write.Resource)).toEqual([
      expect.stringMatching(new RegExp(`^arn:aws[a-z-]*:ecr:${region}:${ACCOUNT}:repository/apps/\\*$`)),
    ]);
    expect(write.Action).toEqual(expect.arrayContaining(['ecr:PutImage', 'ecr:CreateRepository', 'ecr:TagResource']));
  });
});
