/**
 * End to end with delete replication off (the production default): a tag
 * deleted at the source stays at the destination. A runner of its own, as
 * the handlers read their configuration when they load (one runner per test
 * file).
 */
import { dockerImage, ociIndex, pushImage, registryRequest } from '@ecr-replicate/testing';
import { startLocalRunner, type LocalRunner } from '../../src';

let runner: LocalRunner;

beforeAll(async () => {
  runner = await startLocalRunner({ config: { deletes: false }, timeScale: 0.02 });
}, 60_000);

afterAll(async () => {
  await runner?.stop();
});

it('keeps a tag the source deleted, drops the DELETE events, and still replicates pushes', async () => {
  const repository = 'team/app';
  const kept = ociIndex({
    platforms: [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64' },
    ],
    seed: 'off-kept',
  });
  await pushImage(runner.source, repository, kept, 'v1');
  const pushed = await runner.emitPush(repository, kept, 'v1');
  expect(pushed.map((p) => p.outcome.kind)).toEqual(['dropped', 'dropped', 'sent']);
  await runner.waitForIdle(60_000);
  expect(await runner.digestAt('destination', repository, 'v1')).toBe(kept.root.digest);
  const before = await runner.job(`${repository}:v1`);

  expect(
    (await registryRequest(runner.source, 'DELETE', `/v2/${repository}/manifests/${kept.root.digest}`)).status,
  ).toBe(202);
  expect(await runner.emitDelete(repository, kept.root.digest, 'v1')).toEqual({
    kind: 'dropped',
    reason: 'deletes-disabled',
  });
  expect(await runner.emitDelete(repository, kept.manifests[0]?.digest as string)).toEqual({
    kind: 'dropped',
    reason: 'deletes-disabled',
  });
  await runner.waitForIdle(30_000);
  expect(await runner.digestAt('destination', repository, 'v1')).toBe(kept.root.digest);
  expect(await runner.job(`${repository}:v1`)).toEqual(before);

  // A push whose tag is gone by the time the worker looks: left alone at the destination (nothing to delete with
  // deletes off).
  const fleeting = dockerImage({ seed: 'off-fleeting' });
  await pushImage(runner.source, repository, fleeting, 'v2');
  expect(
    (await registryRequest(runner.source, 'DELETE', `/v2/${repository}/manifests/${fleeting.root.digest}`)).status,
  ).toBe(202);
  // ... and a push that stays.
  const next = dockerImage({ seed: 'off-next' });
  await pushImage(runner.source, repository, next, 'v3');
  await runner.emitPush(repository, fleeting, 'v2');
  await runner.emitPush(repository, next, 'v3');
  await runner.waitForIdle(60_000);
  expect(await runner.digestAt('destination', repository, 'v2')).toBeUndefined();
  const leftAlone = await runner.job(`${repository}:v2`);
  expect(leftAlone).toMatchObject({ status: 'COMPLETE', bytesCopied: 0 });
  expect(leftAlone?.replicatedDigest).toBeUndefined();
  expect(await runner.digestAt('destination', repository, 'v3')).toBe(next.root.digest);
  expect(await runner.job(`${repository}:v3`)).toMatchObject({
    status: 'COMPLETE',
    replicatedDigest: next.root.digest,
  });
  expect([
    runner.requestDeadLetterQueue.size,
    runner.retryDeadLetterQueue.size,
    runner.eventsDeadLetterQueue.size,
  ]).toEqual([0, 0, 0]);
}, 120_000);
