'use strict';
/**
 * Values serverless.yml derives from the stage parameters (`params:`),
 * through `${file(./deploy/lib/stage-config.js):NAME}`. Each export resolves
 * the parameters it needs, validates them and fails the packaging with a
 * message naming the parameter, so a bad configuration never reaches a
 * deployed Lambda.
 *
 * The plain functions (`imageActionPattern(config)` and so on) are exported
 * too, for the tests.
 */
const { loadCommon } = require('./common-source');

class StageConfigError extends Error {}

/** The validated replication configuration (parsed form) of a raw `replication` parameter. */
function parseReplication(raw) {
  const common = loadCommon();
  if (raw !== undefined && raw !== null && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new StageConfigError('param "replication" must be an object (the replication configuration, see the README)');
  }
  try {
    return common.parseReplicationConfig(raw || {});
  } catch (error) {
    if (error instanceof common.ValidationError) throw new StageConfigError(`param "replication": ${error.message}`);
    throw error;
  }
}

/**
 * The repository-name prefixes every replicated repository starts with, or
 * undefined when the include filters are not all prefixes (or empty: every
 * repository). The rule and the worker's source permissions narrow to them.
 */
function repositoryPrefixes(config) {
  const include = config.repositories.include;
  if (include.length === 0 || include.some((filter) => filter.type !== 'prefix')) return undefined;
  return [...new Set(include.map((filter) => filter.pattern))].sort();
}

/** The EventBridge pattern of the "ECR Image Action" rule. */
function imageActionPattern(config) {
  const prefixes = repositoryPrefixes(config);
  return {
    source: ['aws.ecr'],
    'detail-type': ['ECR Image Action'],
    detail: {
      result: ['SUCCESS'],
      'action-type': config.deletes ? ['PUSH', 'DELETE'] : ['PUSH'],
      ...(prefixes === undefined ? {} : { 'repository-name': prefixes.map((prefix) => ({ prefix })) }),
    },
  };
}

/** ARNs (Fn::Sub) of the source repositories the worker may read. */
function sourceRepositoryArns(config) {
  const prefixes = repositoryPrefixes(config) || [''];
  return prefixes.map((prefix) => ({
    'Fn::Sub': `arn:\${AWS::Partition}:ecr:\${AWS::Region}:\${AWS::AccountId}:repository/${prefix}*`,
  }));
}

/** Checks the destination parameters; returns `{ partition, region, accountId, registry }`. */
function destination({ partition, region, accountId }) {
  const common = loadCommon();
  if (!common.PARTITION_NAMES.includes(partition)) {
    throw new StageConfigError(`param "destinationPartition" must be one of ${common.PARTITION_NAMES.join(', ')}`);
  }
  const regionPartition = common.findPartitionOfRegion(String(region));
  if (regionPartition !== partition) {
    throw new StageConfigError(
      `param "destinationRegion" (${region}) ${regionPartition === undefined ? 'belongs to no known partition' : `is in partition ${regionPartition}`}, not ${partition}`,
    );
  }
  const account = accountId === undefined || accountId === null ? '' : String(accountId);
  if (account !== '' && !/^\d{12}$/.test(account))
    throw new StageConfigError('param "destinationAccountId" must be empty or a 12-digit account id');
  return {
    partition,
    region,
    accountId: account,
    registry: account === '' ? undefined : common.ecrHost({ accountId: account, region }),
  };
}

/** Numeric parameters: name → [min, max] (the bounds of the settings that read them, and of AWS). */
const NUMERIC_PARAMS = {
  batchSize: [1, 10], // FIFO event sources take at most 10 messages
  dispatcherMaxConcurrency: [2, 1000],
  requestMaxReceiveCount: [1, 1000],
  workerTimeoutMinutes: [5, 2160],
  maxAttempts: [1, 100], // MAX_ATTEMPTS
  leaseSeconds: [60, 43200], // LEASE_SECONDS
  repairConcurrency: [1, 64], // REPAIR_CONCURRENCY
};

/**
 * The numeric parameters, checked: `{ name: number }`, plus `text.name`, the
 * same value as a string (environment variables are strings).
 */
function checkTuning(values) {
  const numbers = {};
  const text = {};
  for (const [name, [min, max]] of Object.entries(NUMERIC_PARAMS)) {
    const raw = values[name];
    const value = typeof raw === 'number' ? raw : /^\s*\d+\s*$/.test(String(raw)) ? Number(raw) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new StageConfigError(`param "${name}" must be a whole number from ${min} to ${max}`);
    }
    numbers[name] = value;
    text[name] = String(value);
  }
  return { ...numbers, text };
}

/**
 * The repair function's schedule: an EventBridge `rate(...)` or
 * `cron(...)` expression, or empty (blank) for none. Returns the expression,
 * or undefined when there is no schedule.
 */
function repairScheduleExpression(raw) {
  const text = raw === undefined || raw === null ? '' : String(raw).trim();
  if (text === '') return undefined;
  // EventBridge wants the singular for 1 (`rate(1 hour)`) and the plural otherwise (`rate(6 hours)`).
  const rate = /^rate\(([1-9]\d*) (minute|hour|day)(s?)\)$/.exec(text);
  if (rate && (rate[1] === '1') === (rate[3] === '')) return text;
  if (/^cron\(\S+( \S+){5}\)$/.test(text)) return text;
  throw new StageConfigError(
    'param "repairSchedule" must be "rate(N minutes|hours|days)" (singular for 1), "cron(<six fields>)", or empty for no schedule',
  );
}

/** The repair function's `events`: one schedule, or none. */
function repairScheduleEvents(raw, ruleName) {
  const expression = repairScheduleExpression(raw);
  if (expression === undefined) return [];
  return [
    {
      schedule: {
        name: ruleName,
        description: 'Drift repair: compares the registries and queues what differs',
        rate: [expression],
      },
    },
  ];
}

/** Wraps a function of the resolved parameters as a serverless variable resolver. */
function resolver(names, compute) {
  return async ({ resolveVariable }) => {
    const values = {};
    for (const name of names) values[name] = await resolveVariable(`param:${name}`);
    try {
      return compute(values);
    } catch (error) {
      if (error instanceof StageConfigError) throw new Error(`stage configuration: ${error.message}`);
      throw error;
    }
  };
}

module.exports = {
  // serverless variable resolvers
  replicationConfigJson: resolver(['replication'], ({ replication }) => {
    parseReplication(replication);
    return JSON.stringify(replication || {});
  }),
  imageActionRulePattern: resolver(['replication'], ({ replication }) =>
    imageActionPattern(parseReplication(replication)),
  ),
  workerSourceRepositoryArns: resolver(['replication'], ({ replication }) =>
    sourceRepositoryArns(parseReplication(replication)),
  ),
  tuning: resolver(Object.keys(NUMERIC_PARAMS), checkTuning),
  repairEvents: async ({ resolveVariable }) => {
    const ruleName = await resolveVariable('self:custom.names.repairRule');
    return resolver(['repairSchedule'], ({ repairSchedule }) =>
      repairScheduleEvents(repairSchedule, ruleName),
    )({ resolveVariable });
  },
  destinationRegistry: resolver(['destinationPartition', 'destinationRegion', 'destinationAccountId'], (params) => {
    const checked = destination({
      partition: params.destinationPartition,
      region: params.destinationRegion,
      accountId: params.destinationAccountId,
    });
    return (
      checked.registry || `(destination account not set: the worker uses the secret's accountid, in ${checked.region})`
    );
  }),
  // plain functions
  StageConfigError,
  parseReplication,
  repositoryPrefixes,
  imageActionPattern,
  sourceRepositoryArns,
  destination,
  checkTuning,
  repairScheduleExpression,
  repairScheduleEvents,
};
