/**
 * Starting worker builds (CodeBuild StartBuild): a subpath of its own (`@ecr-replicate/common/codebuild`) so that
 * code that starts no build does not load the CodeBuild client.
 */
export * from './start-build';
