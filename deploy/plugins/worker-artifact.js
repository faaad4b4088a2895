'use strict';
/**
 * Local serverless plugin: delivers the worker's code with the deployment.
 *
 * Packaging (`sls package`, and the packaging step of `sls deploy`):
 *   1. bundles `custom.workerArtifact.entry` with esbuild into
 *      `.serverless/<fileName>` (worker.js + worker.js.map), next to the
 *      Lambda zips, so that it moves with them into `--package <dir>`;
 *   2. points the CodeBuild project's S3 source at
 *      `<deployment bucket>/<artifactDirectoryName>/<fileName>`, the very
 *      directory the Lambda zips of this deployment are uploaded to;
 *   3. lets the project's role read exactly that object.
 *
 * Deploying (`sls deploy`, also `sls deploy --package <dir>`): right after
 * the framework uploaded the Lambda zips (`aws:deploy:deploy:uploadArtifacts`)
 * and before CloudFormation is asked to update the stack, the zip is uploaded
 * with the framework's own upload routine (same bucket, directory,
 * encryption settings and `filesha256` metadata as the Lambda zips).
 *
 * The project's buildspec checks worker.js against the SHA-256 of the bundle
 * packaged with this template before it runs it: a build runs exactly the
 * deployed worker, or fails (an object replaced in the bucket is refused).
 *
 * The configuration store (`custom.replicationConfigStore`): the replication
 * configuration file, validated at packaging (deploy/lib/stage-config.js),
 * travels the same way as `replication-config.json` (canonical JSON), and
 * the functions named in `functions` and the worker project get its
 * location and SHA-256 (REPLICATION_CONFIG_BUCKET, REPLICATION_CONFIG_KEY,
 * REPLICATION_CONFIG_SHA256) and read permission on exactly that object.
 * Each deployment has its own object, so a deployed function always reads
 * the configuration it was deployed with, and a configuration change
 * deploys without any change to the code.
 *
 * Old deployment directories are removed by the framework with their
 * templates (it keeps the last few), so a rollback to an earlier deployment
 * finds that deployment's worker and configuration too.
 */
const { Buffer } = require('node:buffer');
const fs = require('node:fs');
const path = require('node:path');
const { bundleWorker, WORKER_SCRIPT } = require('../lib/worker-bundle');
const { readReplicationFile } = require('../lib/stage-config');

const PLUGIN = 'worker-artifact';
const CONFIG_FILE_NAME = 'replication-config.json';
/** The buildspec line that runs the worker; the hash check goes right before it. */
const RUN_WORKER = `- node ${WORKER_SCRIPT}`;

class WorkerArtifactPlugin {
  constructor(serverless, options, utils) {
    this.serverless = serverless;
    this.options = options || {};
    this.log = (utils && utils.log) || { info: () => undefined, notice: () => undefined, warning: () => undefined };

    if (serverless.configSchemaHandler) {
      serverless.configSchemaHandler.defineCustomProperties({
        type: 'object',
        properties: {
          workerArtifact: {
            type: 'object',
            properties: {
              entry: { type: 'string', minLength: 1 },
              fileName: { type: 'string', pattern: '^[A-Za-z0-9._-]+\\.zip$' },
              project: { type: 'string', minLength: 1 },
              role: { type: 'string', minLength: 1 },
            },
            required: ['entry', 'fileName', 'project', 'role'],
            additionalProperties: false,
          },
          replicationConfigStore: {
            type: 'object',
            properties: {
              file: { type: 'string', minLength: 1 },
              functions: { type: 'array', items: { type: 'string', minLength: 1 } },
            },
            required: ['file', 'functions'],
            additionalProperties: false,
          },
        },
      });
    }

    this.hooks = {
      'before:package:finalize': () => this.bundle(),
      'before:aws:package:finalize:saveServiceState': () => this.wireTemplate(),
      'after:aws:deploy:deploy:uploadArtifacts': () => this.upload(),
    };
  }

  settings() {
    const settings = (this.serverless.service.custom || {}).workerArtifact;
    if (!settings) throw this.error('custom.workerArtifact is not set');
    return settings;
  }

  error(message) {
    const ServerlessError = this.serverless.classes && this.serverless.classes.Error;
    const text = `${PLUGIN}: ${message}`;
    return ServerlessError ? new ServerlessError(text) : new Error(text);
  }

  /** Where packaging writes its artifacts before they move to `--package`. */
  packagingDir() {
    return path.join(this.serverless.serviceDir, '.serverless');
  }

  async bundle() {
    const { entry, fileName } = this.settings();
    const entryPath = path.resolve(this.serverless.serviceDir, entry);
    if (!fs.existsSync(entryPath)) throw this.error(`the worker's entry point ${entry} does not exist`);
    let bundle;
    try {
      bundle = await bundleWorker(entryPath);
    } catch (error) {
      throw this.error(`could not bundle ${entry}: ${error.message}`);
    }
    fs.mkdirSync(this.packagingDir(), { recursive: true });
    const target = path.join(this.packagingDir(), fileName);
    fs.writeFileSync(target, bundle.zip);
    this.workerSha256 = bundle.files.find((file) => file.name === WORKER_SCRIPT).sha256;
    const contents = bundle.files.map((file) => `${file.name} ${file.size} B`).join(', ');
    this.log.info(`${PLUGIN}: ${fileName} ${bundle.zip.length} B (${contents})`);

    const store = this.configStore();
    let config;
    try {
      config = readReplicationFile(store.file);
    } catch (error) {
      throw this.error(`replication configuration: ${error.message}`);
    }
    fs.writeFileSync(path.join(this.packagingDir(), CONFIG_FILE_NAME), config.text);
    this.configSha256 = config.sha256;
    this.log.info(`${PLUGIN}: ${CONFIG_FILE_NAME} ${Buffer.byteLength(config.text)} B (sha256 ${config.sha256})`);
  }

  configStore() {
    const store = (this.serverless.service.custom || {}).replicationConfigStore;
    if (!store) throw this.error('custom.replicationConfigStore is not set');
    return store;
  }

  /** The `{ Fn::Join }` ARN of an object of the deployment bucket. */
  objectArn(bucket, key) {
    return { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', bucket, '/', key]] };
  }

  /** The deployment bucket as the compiled template names it. */
  bucketReference() {
    const provider = this.serverless.service.provider;
    const configured =
      (provider.deploymentBucketObject && provider.deploymentBucketObject.name) || provider.deploymentBucket;
    return typeof configured === 'string' && configured !== '' ? configured : { Ref: 'ServerlessDeploymentBucket' };
  }

  wireTemplate() {
    const { fileName, project, role } = this.settings();
    const template = this.serverless.service.provider.compiledCloudFormationTemplate;
    const directory = this.serverless.service.package.artifactDirectoryName;
    if (!directory) throw this.error('the deployment has no artifact directory (package.artifactDirectoryName)');
    const key = `${directory}/${fileName}`;
    const bucket = this.bucketReference();

    const projectResource = template.Resources[project];
    if (!projectResource || projectResource.Type !== 'AWS::CodeBuild::Project')
      throw this.error(`resource ${project} is not an AWS::CodeBuild::Project`);
    const buildSpec = String(projectResource.Properties.Source.BuildSpec || '');
    const lines = buildSpec.split('\n');
    const run = lines.findIndex((line) => line.trim() === RUN_WORKER);
    if (run < 0) throw this.error(`the project's buildspec has no "${RUN_WORKER}" line to guard`);
    if (!/^[0-9a-f]{64}$/.test(String(this.workerSha256)))
      throw this.error('the worker was not bundled in this packaging');
    const indent = lines[run].slice(0, lines[run].indexOf('-'));
    lines.splice(run, 0, `${indent}- echo "${this.workerSha256}  ${WORKER_SCRIPT}" | sha256sum --check --strict -`);
    projectResource.Properties.Source = {
      ...projectResource.Properties.Source,
      Type: 'S3',
      Location: { 'Fn::Join': ['/', [bucket, key]] },
      BuildSpec: lines.join('\n'),
    };

    const roleResource = template.Resources[role];
    if (!roleResource || roleResource.Type !== 'AWS::IAM::Role')
      throw this.error(`resource ${role} is not an AWS::IAM::Role`);
    const policies = roleResource.Properties.Policies || (roleResource.Properties.Policies = []);
    const configKey = `${directory}/${CONFIG_FILE_NAME}`;
    policies.push({
      PolicyName: 'read-worker-artifact',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['s3:GetObject', 's3:GetObjectVersion'],
            Resource: [this.objectArn(bucket, key), this.objectArn(bucket, configKey)],
          },
        ],
      },
    });

    // The configuration store's location, for the worker and the functions that read it.
    if (!/^[0-9a-f]{64}$/.test(String(this.configSha256)))
      throw this.error('the replication configuration was not read in this packaging');
    const location = {
      REPLICATION_CONFIG_BUCKET: bucket,
      REPLICATION_CONFIG_KEY: configKey,
      REPLICATION_CONFIG_SHA256: this.configSha256,
    };
    const variables = projectResource.Properties.Environment.EnvironmentVariables;
    for (const [Name, Value] of Object.entries(location)) variables.push({ Name, Type: 'PLAINTEXT', Value });
    const naming = this.serverless.getProvider('aws').naming;
    for (const functionName of this.configStore().functions) {
      const functionId = naming.getLambdaLogicalId(functionName);
      const fn = template.Resources[functionId];
      if (!fn || fn.Type !== 'AWS::Lambda::Function')
        throw this.error(`function ${functionName} is not in the template`);
      const environment = fn.Properties.Environment || (fn.Properties.Environment = { Variables: {} });
      Object.assign(environment.Variables, location);
      const roleRef = fn.Properties.Role && fn.Properties.Role['Fn::GetAtt'];
      const functionRole = roleRef && template.Resources[roleRef[0]];
      if (!functionRole || functionRole.Type !== 'AWS::IAM::Role')
        throw this.error(`function ${functionName} has no role of its own in the template`);
      (functionRole.Properties.Policies || (functionRole.Properties.Policies = [])).push({
        PolicyName: 'read-replication-config',
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'], Resource: this.objectArn(bucket, configKey) }],
        },
      });
    }
  }

  /** The framework's deploy plugin: its upload routine, bucket and package path. */
  deployPlugin() {
    const found = this.serverless.pluginManager.plugins.find(
      (plugin) =>
        plugin &&
        plugin.constructor &&
        plugin.constructor.name === 'AwsDeploy' &&
        typeof plugin.uploadZipFile === 'function',
    );
    if (!found) throw this.error("cannot find the framework's AwsDeploy plugin to upload the worker");
    return found;
  }

  async upload() {
    if (this.serverless.service.provider.shouldNotDeploy) return;
    const { fileName } = this.settings();
    const deploy = this.deployPlugin();
    const directory = this.serverless.service.package.artifactDirectoryName;
    for (const name of [fileName, CONFIG_FILE_NAME]) {
      const candidates = [deploy.packagePath, this.packagingDir()].filter(Boolean).map((dir) => path.join(dir, name));
      const filename = candidates.find((candidate) => fs.existsSync(candidate));
      if (!filename) throw this.error(`${name} is missing from the package: looked for ${candidates.join(', ')}`);
      this.log.info(`${PLUGIN}: uploading ${name} to ${directory}/`);
      await deploy.uploadZipFile({ filename, s3KeyDirname: directory });
    }
  }
}

module.exports = WorkerArtifactPlugin;
