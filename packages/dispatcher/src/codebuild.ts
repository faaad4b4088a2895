/** Starting worker builds lives in common (the copy Lambda hands jobs over with it too). */
export { startWorkerBuild, type WorkerBuild } from '@ecr-replicate/common/codebuild';
