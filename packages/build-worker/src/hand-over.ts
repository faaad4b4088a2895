/**
 * Thrown by an executor's hooks (the copy Lambda's time budget) to stop a job and hand it, lease kept, to another
 * executor: not a failure. `runJobs` records nothing for the job, keeps its lease (stops heart-beating it) and lists it
 * in `handedOver`; the caller hands it on.
 */
export class JobHandOver extends Error {
  override readonly name = 'JobHandOver';

  constructor(readonly reason: string) {
    super(`handed over: ${reason}`);
  }
}

export function isJobHandOver(error: unknown): error is JobHandOver {
  return error instanceof JobHandOver;
}
