/**
 * `npm run demo`: the whole replication pipeline on this machine, no AWS
 * account and no credentials. The local runner starts two registries (the
 * destination behind Basic auth, as ECR is), the job table on dynalite, the
 * queues and the real Lambda handlers in this process, and runs each worker
 * build as a child process. The demo publishes a signed multi-platform image,
 * emits the ECR events (with the tagless ones ECR sends for an index's
 * children), waits for the replication, then pushes a new image to the same
 * tag and deletes another tag (delete replication is on), waits again and
 * prints where every tag stands. Exit status 0 only when every destination
 * tag equals the source.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import {
  cosignSignature,
  dockerImage,
  ociIndex,
  pushImage,
  registryRequest,
  type SignatureImage,
  type SyntheticImage,
} from '@ecr-replicate/testing';
import {
  humanBytes,
  shortDigest,
  shortTag,
  startLocalRunner,
  tagStates,
  tagTable,
  type LocalBuild,
  type LocalRunner,
  type RunnerEvent,
} from '../src';

const REPOSITORY = 'demo/app';
const started = Date.now();
const out = (text = ''): void => {
  process.stdout.write(`${text}\n`);
};
const clock = (): string => `[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s]`;
const step = (text: string): void => out(`  ${clock()} ${text}`);

const stats = { events: 0, ignored: 0, queued: 0, builds: 0, copies: 0 };

function narrate(event: RunnerEvent): void {
  switch (event.type) {
    case 'ingest': {
      stats.events += 1;
      const d = event.event.detail;
      const what = `${d['action-type']} ${d['repository-name']}${d['image-tag'] === undefined ? `@${shortDigest(d['image-digest'])} (no tag)` : `:${shortTag(d['image-tag'])}`}`;
      const outcome = event.outcome;
      if (outcome.kind === 'sent') stats.queued += 1;
      if (outcome.kind === 'dropped') stats.ignored += 1;
      step(
        `ECR event ${what} → ingest: ${outcome.kind === 'sent' ? 'request queued' : outcome.kind === 'dropped' ? `ignored (${outcome.reason})` : `FAILED: ${outcome.error}`}`,
      );
      return;
    }
    case 'dispatch':
      step(
        `dispatcher: batch of ${event.records} request(s)${event.failed > 0 ? `, ${event.failed} failed (retried after the visibility timeout)` : ''}`,
      );
      return;
    case 'build':
      narrateBuild(event.build);
      return;
    case 'copy': {
      const run = event.invocation;
      const jobs = ((run.event as { jobKeys?: string[] }).jobKeys ?? []).map(shortTag).join(', ');
      if (event.phase === 'start') {
        stats.copies += 1;
        step(`copy Lambda invoked${run.coldStartMs > 0 ? ' (cold start)' : ''}: ${jobs}`);
      } else {
        const seconds =
          run.endedAt !== undefined
            ? ` in ${((run.endedAt - (run.handlerStartedAt ?? run.invokedAt)) / 1000).toFixed(1)} s`
            : '';
        step(
          `copy Lambda ${run.outcome === 'ok' ? 'done' : (run.outcome ?? 'ended').toUpperCase()}${seconds}: ${jobs}`,
        );
      }
      return;
    }
    case 'retry-forwarded':
      step(`retry handler: ${event.records} delayed retry(ies) forwarded to the request queue`);
      return;
    case 'dead-letter':
      step(`DEAD LETTER in ${event.queue}`);
      return;
  }
}

function narrateBuild(build: LocalBuild): void {
  const name = `worker build #${build.number}`;
  if (build.status === 'IN_PROGRESS') {
    stats.builds += 1;
    step(`${name} started (child process ${build.pid ?? '?'}): ${build.jobKeys.map(shortTag).join(', ')}`);
  } else if (build.status !== 'QUEUED') {
    const seconds =
      build.startedAt !== undefined && build.endedAt !== undefined
        ? ` in ${((build.endedAt - build.startedAt) / 1000).toFixed(1)} s`
        : '';
    step(`${name} ${build.status}${seconds} → build-state handler`);
  }
}

function sizeOf(image: SyntheticImage): number {
  return (
    image.blobs.reduce((sum, blob) => sum + blob.size, 0) + image.manifests.reduce((sum, m) => sum + m.bytes.length, 0)
  );
}

async function publish(runner: LocalRunner, image: SyntheticImage, tag: string, description: string): Promise<void> {
  await pushImage(runner.source, REPOSITORY, image, tag);
  step(`pushed ${REPOSITORY}:${shortTag(tag)} to the source: ${description}, ${humanBytes(sizeOf(image))}`);
}

async function signAndPublish(runner: LocalRunner, subject: SyntheticImage, seed: string): Promise<SignatureImage> {
  const signature = cosignSignature(subject.root, seed);
  await pushImage(runner.source, REPOSITORY, signature, signature.tag);
  step(
    `pushed ${REPOSITORY}:${shortTag(signature.tag)} to the source: cosign signature of ${shortDigest(subject.root.digest)}`,
  );
  return signature;
}

async function waitForReplication(runner: LocalRunner): Promise<void> {
  const before = Date.now();
  await runner.waitForIdle(45_000);
  step(`pipeline idle: no message queued, no build running (${((Date.now() - before) / 1000).toFixed(1)} s)`);
}

async function run(runner: LocalRunner): Promise<boolean> {
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 's390x' },
  ];
  const platformNames = 'linux/amd64, linux/arm64/v8, linux/s390x';

  out('\n1. Publish a signed multi-platform image and a second tag, emit the ECR events');
  const v1 = ociIndex({ platforms, sharedBaseSize: 8 << 20, layerSize: 2 << 20, seed: 'demo-v1' });
  await publish(runner, v1, 'v1', `OCI index of 3 platforms (${platformNames}) sharing a base layer`);
  const signature1 = await signAndPublish(runner, v1, 'demo-v1-signature');
  const v2 = dockerImage({ seed: 'demo-v2', layerSizes: [3 << 20, 1 << 20] });
  await publish(runner, v2, 'v2', 'Docker image, one platform');
  await runner.emitPush(REPOSITORY, v1, 'v1'); // 3 tagless child events, then v1
  await runner.emitPush(REPOSITORY, signature1, signature1.tag);
  await runner.emitPush(REPOSITORY, v2, 'v2');
  await waitForReplication(runner);

  out('\n2. Push a new image to v1, delete v2 at the source (delete replication is on), emit the events');
  const v1b = ociIndex({ platforms, sharedBaseSize: 8 << 20, layerSize: 2 << 20, seed: 'demo-v1.1' });
  await publish(runner, v1b, 'v1', `new OCI index of 3 platforms`);
  const signature1b = await signAndPublish(runner, v1b, 'demo-v1.1-signature');
  const deleted = await registryRequest(runner.source, 'DELETE', `/v2/${REPOSITORY}/manifests/${v2.root.digest}`);
  if (deleted.status !== 202)
    throw new Error(`could not delete ${REPOSITORY}:v2 at the source (HTTP ${deleted.status})`);
  step(`deleted ${REPOSITORY}:v2 at the source`);
  await runner.emitPush(REPOSITORY, v1b, 'v1');
  await runner.emitPush(REPOSITORY, signature1b, signature1b.tag);
  await runner.emitDelete(REPOSITORY, v2.root.digest, 'v2');
  await waitForReplication(runner);

  out(
    `\n3. Where every tag of ${REPOSITORY} stands (status, executor, bytes and seconds of its last run, from the job table)`,
  );
  const states = await tagStates(runner, REPOSITORY);
  out(tagTable(states));
  // Every platform of the new v1 arrived with it, by digest.
  const children = await Promise.all(
    v1b.manifests.map(async (m) => (await runner.digestAt('destination', REPOSITORY, m.digest)) === m.digest),
  );
  const jobsComplete = states.every((s) => s.status === undefined || s.status === 'COMPLETE');
  const equal = states.every((s) => s.equal) && children.every(Boolean) && jobsComplete;
  out(
    `  ${stats.events} ECR events → ${stats.queued} requests queued (${stats.ignored} ignored: tagless children of an index) → ${stats.copies} copy Lambda invocations, ${stats.builds} worker builds; ` +
      `${runner.table.changes.length} job-table writes; ${runner.requestDeadLetterQueue.size + runner.retryDeadLetterQueue.size + runner.eventsDeadLetterQueue.size} dead letters`,
  );
  out(
    equal
      ? `\nEvery destination tag equals the source: ${states.length} tags, and the ${v1b.manifests.length} manifests of v1 by digest. (${((Date.now() - started) / 1000).toFixed(1)} s)`
      : `\nThe destination DIFFERS from the source${jobsComplete ? '' : ' (some jobs are not COMPLETE)'}. (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  return equal;
}

function logTail(runner: LocalRunner | undefined, lines = 25): string {
  if (runner === undefined) return '';
  try {
    return readFileSync(runner.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  out(
    'ecr-replicate demo: ECR event → ingest → FIFO queue → dispatcher → copy Lambda (or worker build) → destination registry, all on 127.0.0.1\n',
  );
  out('Starting the local stand-ins...');
  let runner: LocalRunner | undefined;
  let stopping = false;
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      await runner?.stop().catch(() => undefined);
    }
    process.exit(code);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    // Kept installed: a second signal (the terminal's and the one scripts/demo.mjs passes on) must not cut the clean-up
    // short.
    process.on(signal, () => {
      if (stopping) return;
      process.stderr.write(`\n${signal}: stopping the workers and servers, removing the temporary files...\n`);
      void stop(130);
    });
  }
  try {
    // The copy Lambda first (its 15 minutes and 1 s cold start scaled), CodeBuild (60 s provisioning, scaled) for what
    // does not fit.
    runner = await startLocalRunner({
      config: { deletes: true },
      timeScale: 0.05,
      copyLambda: true,
      buildProvisioningSeconds: 60,
      onEvent: narrate,
    });
    const worker = relative(process.cwd(), require.resolve('@ecr-replicate/build-worker/dist/main.js'));
    out(`  source registry       ${runner.source.url} (open)`);
    out(
      `  destination registry  ${runner.destination.url} (Basic auth: user AWS, the password the stubbed ECR token decodes to)`,
    );
    out(
      `  job table             dynalite ${runner.dynamo.endpoint}, reached through ${runner.table.endpoint} (records every change)`,
    );
    out(
      `  in this process       the ingest, dispatcher, build-state and retry handlers; the FIFO request queue and the retry queue`,
    );
    out(
      `  copy Lambda           in this process: the first executor, its ${(runner.models.copyTimeoutMs / 1000).toFixed(0)} s limit (900 s scaled) enforced`,
    );
    out(
      `  worker builds         child processes: node ${worker} (ECR token and destination secret stubbed at the SDK client)`,
    );
    out(`  configuration         ${JSON.stringify(runner.config)}`);
    const equal = await run(runner);
    if (stopping) return new Promise<number>(() => undefined);
    if (!equal) process.stderr.write(`\nThe components' last log lines:\n${logTail(runner)}\n`);
    await runner.stop();
    return equal ? 0 : 1;
  } catch (error) {
    if (stopping) return new Promise<number>(() => undefined); // interrupted: the signal handler exits
    process.stderr.write(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}\n`);
    const tail = logTail(runner);
    if (tail !== '') process.stderr.write(`The components' last log lines:\n${tail}\n`);
    await runner?.stop().catch(() => undefined);
    return 1;
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo failed: ${String(error)}\n`);
    process.exit(1);
  },
);
