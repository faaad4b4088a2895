/**
 * Sample events as AWS documents them (the Amazon ECR User Guide, "Amazon ECR
 * events and EventBridge"; the CodeBuild User Guide, "Build notifications
 * input format reference"), for testing the deployed rules' patterns. Only
 * the account is set to the emulator's, as an event of this account would
 * carry it.
 */

export const ACCOUNT = '123456789012';

/** "Event for a completed image push". */
export function ecrPushEvent(repositoryName = 'my-repository-name'): Record<string, unknown> {
  return {
    version: '0',
    id: '13cde686-328b-6117-af20-0e5566167482',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: ACCOUNT,
    time: '2019-11-16T01:54:34Z',
    region: 'us-west-2',
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': repositoryName,
      'image-digest': 'sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234',
      'action-type': 'PUSH',
      'image-tag': 'latest',
    },
  };
}

/** "Event for an image deletion". */
export function ecrDeleteEvent(repositoryName = 'my-repository-name'): Record<string, unknown> {
  return {
    version: '0',
    id: 'dd3b46cb-2c74-f49e-393b-28286b67279d',
    'detail-type': 'ECR Image Action',
    source: 'aws.ecr',
    account: ACCOUNT,
    time: '2019-11-16T02:01:05Z',
    region: 'us-west-2',
    resources: [],
    detail: {
      result: 'SUCCESS',
      'repository-name': repositoryName,
      'image-digest': 'sha256:f98d67af8e53a536502bfc600de3266556b06ed635a32d60aa7a5fe6d7e609d7',
      'action-type': 'DELETE',
      'image-tag': 'latest',
    },
  };
}

/** "Build state change" (the documented sample, with the status and project given). */
export function codeBuildStateChangeEvent(projectName: string, status: string): Record<string, unknown> {
  return {
    version: '0',
    id: 'bfdc1220-60ff-44ca-b0c1-b8fd8ee6ed3a',
    'detail-type': 'CodeBuild Build State Change',
    source: 'aws.codebuild',
    account: ACCOUNT,
    time: '2017-09-01T16:14:28Z',
    region: 'us-west-2',
    resources: [`arn:aws:codebuild:us-west-2:${ACCOUNT}:build/${projectName}:8745a7a9-c340-456a-9166-edf953571bEX`],
    detail: {
      'build-status': status,
      'project-name': projectName,
      'build-id': `arn:aws:codebuild:us-west-2:${ACCOUNT}:build/${projectName}:8745a7a9-c340-456a-9166-edf953571bEX`,
      'additional-information': {
        artifact: { location: '' },
        environment: {
          image: 'aws/codebuild/standard:7.0',
          'privileged-mode': false,
          'compute-type': 'BUILD_GENERAL1_SMALL',
          type: 'LINUX_CONTAINER',
          'environment-variables': [],
        },
        'timeout-in-minutes': 60,
        'build-complete': status !== 'IN_PROGRESS',
        initiator: 'MyCodeBuildDemoUser',
        'build-start-time': 'Sep 1, 2017 4:12:29 PM',
        source: { location: 'bucket/build-worker.zip', type: 'S3' },
        logs: { 'group-name': `/aws/codebuild/${projectName}`, 'stream-name': '8745a7a9-c340-456a-9166-edf953571bEX' },
      },
      'current-phase': 'COMPLETED',
      'current-phase-context': '[]',
      version: '1',
    },
  };
}
