import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type { ComputeType, StartBuildCommandInput, StartBuildCommandOutput } from '@aws-sdk/client-codebuild';
import { LocalServiceError } from './queues';

/**
 * AWS CodeBuild for the worker project, on this machine: StartBuild (through
 * the stubbed CodeBuild client) starts the worker as a child process with the
 * environment CodeBuild would give it (the project's plain variables, the
 * build's overrides, CODEBUILD_* and the region), and its end becomes the
 * "CodeBuild Build State Change" event, with the build's environment
 * variables in `additional-information.environment.environment-variables`
 * as the real event has them.
 */

export interface EnvironmentVariable {
  name: string;
  value: string;
  type: 'PLAINTEXT';
}

export interface WorkerProject {
  name: string;
  /** The project's plain environment variables. */
  environmentVariables: Array<{ name: string; value: string }>;
  image: string;
  computeType: ComputeType;
  timeoutInMinutes: number;
}

export type BuildStatus = 'QUEUED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'FAULT' | 'STOPPED' | 'TIMED_OUT';

/** One build: its variables, its process, how it ended. */
export interface LocalBuild {
  readonly id: string;
  readonly arn: string;
  readonly number: number;
  readonly projectName: string;
  /** The project's variables with the overrides applied: what the build-state event shows. */
  readonly variables: EnvironmentVariable[];
  /** JOB_KEYS and LEASE_OWNER of the build (the dispatcher's overrides). */
  readonly jobKeys: string[];
  readonly leaseOwner?: string;
  status: BuildStatus;
  readonly queuedAt: number;
  /** When the build left the queue (its provisioning began; epoch ms). */
  provisionedFrom?: number;
  /** When the worker process started and ended (epoch ms). */
  startedAt?: number;
  endedAt?: number;
  pid?: number;
  exitCode?: number | null;
  signal?: NodeJS.Signals | null;
  /** The worker's stdout and stderr (the last 256 KiB). */
  output(): string;
  /** Resolves when the build ended and its final state was reported. */
  readonly finished: Promise<LocalBuild>;
}

/** A "CodeBuild Build State Change" event. */
export interface BuildStateChangeEvent {
  version: '0';
  id: string;
  'detail-type': 'CodeBuild Build State Change';
  source: 'aws.codebuild';
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown> & { 'build-status': BuildStatus; 'project-name': string; 'build-id': string };
}

export interface LocalCodeBuildOptions {
  project: WorkerProject;
  account: string;
  region: string;
  /** The worker's entry (packages/build-worker/dist/main.js). */
  workerEntry: string;
  /** Modules the child loads first (`node -r`): the stubs of the calls that have no local server. */
  preload: string[];
  /**
   * Variables the runner adds to the process only, never shown as the build's
   * variables: endpoints, fake credentials, the stubs' test-only inputs.
   */
  processEnvironment: Record<string, string>;
  /** Builds running at once; more wait QUEUED (CodeBuild's concurrent build limit). */
  maxConcurrentBuilds: number;
  /**
   * Builds that may wait QUEUED; StartBuild past it is refused with AccountLimitExceededException (CodeBuild queues at
   * most 5 × the concurrent-build limit). Default: 5 × maxConcurrentBuilds.
   */
  maxQueuedBuilds?: number;
  /** A build still QUEUED after this long ends TIMED_OUT without running (the project's QueuedTimeoutInMinutes). */
  queuedTimeoutMs?: number;
  /**
   * The time a build spends once it leaves the queue before its command runs: CodeBuild's PROVISIONING,
   * DOWNLOAD_SOURCE and INSTALL phases (default 0). The build holds a concurrent-build slot meanwhile.
   */
  provisioningMs?: number;
  /** Fault injection: an error StartBuild throws instead of starting (chaos, tests). */
  refuse?: (input: StartBuildCommandInput) => Error | undefined;
  /** Receives every state change event (EventBridge → the build-state rule). */
  onStateChange: (event: BuildStateChangeEvent, build: LocalBuild) => void;
  /** Each line the worker prints. */
  onOutput?: (build: LocalBuild, line: string) => void;
}

const OUTPUT_LIMIT = 256 * 1024;
/**
 * What a CodeBuild container has, taken from this process: the rest of its environment is not the worker's business.
 */
const INHERITED = [
  'PATH',
  'HOME',
  'LANG',
  'LC_ALL',
  'TZ',
  'TMPDIR',
  'SYSTEMROOT',
  'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED',
];

interface BuildState extends LocalBuild {
  child?: ChildProcess;
  stopRequested: boolean;
  idempotencyToken?: string;
  ran: boolean;
  queueTimer?: NodeJS.Timeout;
  provisionTimer?: NodeJS.Timeout;
  appendOutput(text: string): void;
  resolveFinished(build: LocalBuild): void;
}

export class LocalCodeBuild {
  /** Every build, in start order. */
  readonly builds: LocalBuild[] = [];
  private readonly states: BuildState[] = [];
  private readonly waiting: BuildState[] = [];
  private running = 0;
  private buildNumber = 0;
  /** StartBuild calls refused for the queue limit. */
  refused = 0;
  private closed = false;

  constructor(private readonly options: LocalCodeBuildOptions) {}

  /** Builds queued or running. */
  get active(): number {
    return this.states.filter((b) => b.status === 'QUEUED' || b.status === 'IN_PROGRESS').length;
  }

  /** StartBuild. Throws what CodeBuild would refuse with. */
  startBuild(input: StartBuildCommandInput): StartBuildCommandOutput {
    if (this.closed) throw new LocalServiceError('AccountLimitExceededException', 'the local runner is stopping');
    const refusal = this.options.refuse?.(input);
    if (refusal !== undefined) throw refusal;
    const project = this.options.project;
    if (input.projectName !== project.name) {
      throw new LocalServiceError(
        'ResourceNotFoundException',
        `Project cannot be found: arn:aws:codebuild:${this.options.region}:${this.options.account}:project/${input.projectName ?? ''}`,
      );
    }
    if (input.idempotencyToken !== undefined) {
      const same = this.states.find(
        (b) => b.idempotencyToken === input.idempotencyToken && Date.now() - b.queuedAt < 5 * 60_000,
      );
      if (same !== undefined) return { build: this.describe(same), $metadata: {} };
    }
    const queueLimit = this.options.maxQueuedBuilds ?? 5 * this.options.maxConcurrentBuilds;
    if (this.running >= this.options.maxConcurrentBuilds && this.waiting.length >= queueLimit) {
      this.refused += 1;
      throw new LocalServiceError(
        'AccountLimitExceededException',
        `Cannot have more than ${queueLimit} builds in queue for the account`,
      );
    }
    const variables = new Map<string, EnvironmentVariable>();
    for (const v of project.environmentVariables)
      variables.set(v.name, { name: v.name, value: v.value, type: 'PLAINTEXT' });
    for (const v of input.environmentVariablesOverride ?? []) {
      if (v.type !== undefined && v.type !== 'PLAINTEXT') {
        throw new LocalServiceError(
          'InvalidInputException',
          `environment variable ${v.name ?? ''}: only PLAINTEXT overrides are supported locally`,
        );
      }
      if (!v.name) throw new LocalServiceError('InvalidInputException', 'an environment variable override has no name');
      variables.set(v.name, { name: v.name, value: v.value ?? '', type: 'PLAINTEXT' });
    }
    this.buildNumber += 1;
    const uuid = randomUUID();
    const id = `${project.name}:${uuid}`;
    let jobKeys: string[] = [];
    try {
      const parsed = JSON.parse(variables.get('JOB_KEYS')?.value ?? '[]') as unknown;
      if (Array.isArray(parsed)) jobKeys = parsed.map(String);
    } catch {
      // the worker reports a bad JOB_KEYS itself
    }
    let output = '';
    let resolveFinished: (build: LocalBuild) => void = () => undefined;
    const finished = new Promise<LocalBuild>((resolve) => (resolveFinished = resolve));
    const leaseOwner = variables.get('LEASE_OWNER')?.value;
    const build: BuildState = {
      id,
      arn: `arn:aws:codebuild:${this.options.region}:${this.options.account}:build/${id}`,
      number: this.buildNumber,
      projectName: project.name,
      variables: [...variables.values()],
      jobKeys,
      ...(leaseOwner === undefined ? {} : { leaseOwner }),
      status: 'QUEUED',
      queuedAt: Date.now(),
      output: () => output,
      finished,
      stopRequested: false,
      ran: false,
      ...(input.idempotencyToken === undefined ? {} : { idempotencyToken: input.idempotencyToken }),
      appendOutput: (text: string) => {
        output = (output + text).slice(-OUTPUT_LIMIT);
      },
      resolveFinished: (b) => resolveFinished(b),
    };
    this.states.push(build);
    this.builds.push(build);
    this.waiting.push(build);
    if (this.options.queuedTimeoutMs !== undefined) {
      build.queueTimer = setTimeout(() => {
        const at = this.waiting.indexOf(build);
        if (at < 0) return;
        this.waiting.splice(at, 1);
        this.end(build, 'TIMED_OUT');
      }, this.options.queuedTimeoutMs);
      build.queueTimer.unref();
    }
    this.next();
    return { build: this.describe(build), $metadata: {} };
  }

  /** Sends a signal to a running build's worker (SIGKILL: the build fails, as a killed build command does). */
  kill(buildId: string, signal: NodeJS.Signals = 'SIGKILL'): boolean {
    const build = this.states.find((b) => b.id === buildId || b.arn === buildId);
    if (build?.child === undefined || build.status !== 'IN_PROGRESS') return false;
    return build.child.kill(signal);
  }

  /** StopBuild: the worker gets SIGTERM and the build ends STOPPED. */
  stopBuild(buildId: string): boolean {
    const build = this.states.find((b) => b.id === buildId || b.arn === buildId);
    if (build === undefined) return false;
    build.stopRequested = true;
    if (build.provisionTimer !== undefined) {
      clearTimeout(build.provisionTimer);
      delete build.provisionTimer;
      this.running -= 1;
      this.end(build, 'STOPPED');
      this.next();
      return true;
    }
    if (build.status === 'QUEUED') {
      this.waiting.splice(this.waiting.indexOf(build), 1);
      this.end(build, 'STOPPED');
      return true;
    }
    return build.child?.kill('SIGTERM') ?? false;
  }

  /** SIGKILL to every running worker, synchronously (for a process 'exit' hook). */
  killAll(): void {
    for (const build of this.states) if (build.status === 'IN_PROGRESS') build.child?.kill('SIGKILL');
  }

  /** Refuses new builds, drops the queued ones and kills the running ones; resolves when they have exited. */
  async close(): Promise<void> {
    this.closed = true;
    for (const build of this.waiting.splice(0)) {
      if (build.queueTimer) clearTimeout(build.queueTimer);
      build.status = 'STOPPED';
      build.resolveFinished(build);
    }
    for (const build of this.states) {
      if (build.provisionTimer === undefined) continue;
      clearTimeout(build.provisionTimer);
      delete build.provisionTimer;
      build.status = 'STOPPED';
      build.resolveFinished(build);
    }
    const running = this.states.filter((b) => b.status === 'IN_PROGRESS');
    for (const build of running) {
      build.stopRequested = true;
      build.child?.kill('SIGKILL');
    }
    await Promise.all(running.map((b) => b.finished));
  }

  private describe(build: LocalBuild): NonNullable<StartBuildCommandOutput['build']> {
    return {
      id: build.id,
      arn: build.arn,
      buildNumber: build.number,
      projectName: build.projectName,
      buildStatus: build.status === 'QUEUED' || build.status === 'IN_PROGRESS' ? 'IN_PROGRESS' : build.status,
      currentPhase: build.status === 'QUEUED' ? 'QUEUED' : 'SUBMITTED',
      initiator: 'local-runner',
      startTime: new Date(build.queuedAt),
      environment: {
        type: 'LINUX_CONTAINER',
        image: this.options.project.image,
        computeType: this.options.project.computeType,
        privilegedMode: false,
        environmentVariables: build.variables,
      },
      timeoutInMinutes: this.options.project.timeoutInMinutes,
    };
  }

  private next(): void {
    while (!this.closed && this.running < this.options.maxConcurrentBuilds && this.waiting.length > 0) {
      const build = this.waiting.shift() as BuildState;
      this.running += 1;
      this.run(build);
    }
  }

  private run(build: BuildState): void {
    if (build.queueTimer) clearTimeout(build.queueTimer);
    build.provisionedFrom = Date.now();
    const provisioningMs = this.options.provisioningMs ?? 0;
    if (provisioningMs <= 0) {
      this.spawnWorker(build);
      return;
    }
    build.provisionTimer = setTimeout(() => {
      delete build.provisionTimer;
      if (this.closed) return;
      this.spawnWorker(build);
    }, provisioningMs);
  }

  private spawnWorker(build: BuildState): void {
    const env: Record<string, string> = {};
    for (const name of INHERITED) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, {
      CODEBUILD_BUILD_ID: build.id,
      CODEBUILD_BUILD_ARN: build.arn,
      CODEBUILD_BUILD_NUMBER: String(build.number),
      CODEBUILD_INITIATOR: 'local-runner',
      CODEBUILD_BUILD_IMAGE: this.options.project.image,
      AWS_REGION: this.options.region,
      AWS_DEFAULT_REGION: this.options.region,
    });
    for (const v of build.variables) env[v.name] = v.value;
    Object.assign(env, this.options.processEnvironment);

    build.status = 'IN_PROGRESS';
    build.ran = true;
    build.startedAt = Date.now();
    const args = [...this.options.preload.flatMap((p) => ['-r', p]), this.options.workerEntry];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    build.child = child;
    if (child.pid !== undefined) build.pid = child.pid;
    this.options.onStateChange(this.stateEvent(build), build);

    let partial = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      build.appendOutput(text);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line !== '') this.options.onOutput?.(build, line);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    let spawnError: Error | undefined;
    child.once('error', (error) => {
      spawnError = error;
      build.appendOutput(`could not start the worker: ${error.message}\n`);
    });
    child.once('close', (code, signal) => {
      if (partial !== '') this.options.onOutput?.(build, partial);
      build.exitCode = code;
      build.signal = signal;
      this.running -= 1;
      const status: BuildStatus =
        spawnError !== undefined ? 'FAULT' : build.stopRequested ? 'STOPPED' : code === 0 ? 'SUCCEEDED' : 'FAILED';
      this.end(build, status);
      this.next();
    });
  }

  private end(build: BuildState, status: BuildStatus): void {
    build.status = status;
    build.endedAt = Date.now();
    delete build.child;
    this.options.onStateChange(this.stateEvent(build), build);
    build.resolveFinished(build);
  }

  /** The phases a build-state event lists: a build that never left the queue has only SUBMITTED and QUEUED. */
  private phasesOf(build: BuildState): Array<Record<string, unknown>> {
    const complete = build.status !== 'QUEUED' && build.status !== 'IN_PROGRESS';
    const phases: Array<Record<string, unknown>> = [{ 'phase-type': 'SUBMITTED', 'phase-status': 'SUCCEEDED' }];
    if (!build.ran) {
      phases.push({ 'phase-type': 'QUEUED', ...(complete ? { 'phase-status': build.status } : {}) });
    } else {
      phases.push({ 'phase-type': 'QUEUED', 'phase-status': 'SUCCEEDED' });
      phases.push({ 'phase-type': 'PROVISIONING', 'phase-status': 'SUCCEEDED' });
      phases.push({ 'phase-type': 'BUILD', ...(complete ? { 'phase-status': build.status } : {}) });
    }
    if (complete) phases.push({ 'phase-type': 'COMPLETED' });
    return phases;
  }

  /** The event EventBridge delivers for the build's current state. */
  private stateEvent(build: LocalBuild): BuildStateChangeEvent {
    const project = this.options.project;
    const complete = build.status !== 'QUEUED' && build.status !== 'IN_PROGRESS';
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': 'CodeBuild Build State Change',
      source: 'aws.codebuild',
      account: this.options.account,
      time: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      region: this.options.region,
      resources: [build.arn],
      detail: {
        'build-status': build.status,
        'project-name': build.projectName,
        'build-id': build.arn,
        'additional-information': {
          'build-complete': complete,
          initiator: 'local-runner',
          'build-start-time': new Date(build.startedAt ?? build.queuedAt).toUTCString(),
          source: { type: 'S3', location: 'local/build-worker.zip' },
          artifact: { location: '' },
          environment: {
            image: project.image,
            'privileged-mode': false,
            'compute-type': project.computeType,
            type: 'LINUX_CONTAINER',
            'environment-variables': build.variables.map((v) => ({ name: v.name, type: v.type, value: v.value })),
          },
          'timeout-in-minutes': project.timeoutInMinutes,
          'build-number': build.number,
          'queued-timeout-in-minutes': 10,
          phases: this.phasesOf(build as BuildState),
          logs: { 'group-name': `/aws/codebuild/${project.name}`, 'stream-name': build.id.split(':')[1] },
        },
        'current-phase': complete ? 'COMPLETED' : 'SUBMITTED',
        'current-phase-context': '[: ]',
        version: '1',
      },
    };
  }
}
