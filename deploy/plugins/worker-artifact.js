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
 * Old deployment directories are removed by the framework with their
 * templates (it keeps the last few), so a rollback to an earlier deployment
 * finds that deployment's worker too.
 */
const fs = require('node:fs');
const path = require('node:path');
const { bundleWorker } = require('../lib/worker-bundle');

const PLUGIN = 'worker-artifact';

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
    const contents = bundle.files.map((file) => `${file.name} ${file.size} B`).join(', ');
    this.log.info(`${PLUGIN}: ${fileName} ${bundle.zip.length} B (${contents})`);
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
    projectResource.Properties.Source = {
      ...projectResource.Properties.Source,
      Type: 'S3',
      Location: { 'Fn::Join': ['/', [bucket, key]] },
    };

    const roleResource = template.Resources[role];
    if (!roleResource || roleResource.Type !== 'AWS::IAM::Role')
      throw this.error(`resource ${role} is not an AWS::IAM::Role`);
    const policies = roleResource.Properties.Policies || (roleResource.Properties.Policies = []);
    policies.push({
      PolicyName: 'read-worker-artifact',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['s3:GetObject', 's3:GetObjectVersion'],
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::', bucket, '/', key]] },
          },
        ],
      },
    });
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
    const candidates = [deploy.packagePath, this.packagingDir()].filter(Boolean).map((dir) => path.join(dir, fileName));
    const filename = candidates.find((candidate) => fs.existsSync(candidate));
    if (!filename) throw this.error(`the worker artifact is missing: looked for ${candidates.join(', ')}`);
    const directory = this.serverless.service.package.artifactDirectoryName;
    this.log.info(`${PLUGIN}: uploading ${fileName} to ${directory}/`);
    await deploy.uploadZipFile({ filename, s3KeyDirname: directory });
  }
}

module.exports = WorkerArtifactPlugin;
