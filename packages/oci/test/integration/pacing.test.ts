/**
 * Pacing at the destination's quotas: every quota-bound call of a copy waits for the pacer first (one draw per try),
 * and a registry that throttles (429 TOOMANYREQUESTS, as ECR answers past a quota) slows the pacer down and is tried
 * again past the transient-failure budget, so throttling delays a copy and never fails it.
 */
import { ErrorCode } from '@ecr-replicate/common';
import { RegistryClient, copyImage, type PacedApi, type Pacer } from '../../src';
import {
  dockerImage,
  manifestDigestOf,
  pushImage,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type LocalRegistry,
  type RecordedRequest,
  type SyntheticImage,
} from '@ecr-replicate/testing';

const RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 50, throttledAttempts: 12 };

let source: LocalRegistry;
let destination: LocalRegistry;
let proxy: FaultProxy;
let image: SyntheticImage;
let run = 0;
const clients: RegistryClient[] = [];

class RecordingPacer implements Pacer {
  readonly taken: PacedApi[] = [];
  readonly throttles: PacedApi[] = [];
  async take(api: PacedApi): Promise<void> {
    this.taken.push(api);
  }
  async throttled(api: PacedApi): Promise<void> {
    this.throttles.push(api);
  }
  count(list: PacedApi[], api: PacedApi): number {
    return list.filter((a) => a === api).length;
  }
}

/** The destination calls of one kind the proxy saw (answered or throttled). */
function calls(requests: readonly RecordedRequest[], api: PacedApi): number {
  const is: Record<PacedApi, (r: RecordedRequest) => boolean> = {
    PutImage: (r) => r.method === 'PUT' && /\/manifests\//.test(r.url),
    InitiateLayerUpload: (r) => r.method === 'POST' && /\/blobs\/uploads\/(\?|$)/.test(r.url),
    UploadLayerPart: (r) => r.method === 'PATCH',
    CompleteLayerUpload: (r) => r.method === 'PUT' && /\/blobs\/uploads\/.+digest=/.test(r.url),
    BatchCheckLayerAvailability: (r) => r.method === 'HEAD' && /\/blobs\/sha256:/.test(r.url),
  };
  return requests.filter((r) => r.status !== 401 && is[api](r)).length;
}

async function copy(pacer: Pacer | undefined, retry = RETRY): Promise<string> {
  run += 1;
  const repository = `paced/run${run}`;
  const src = new RegistryClient({ host: source.host, plainHttp: true, retry });
  const dst = new RegistryClient({
    host: proxy.host,
    plainHttp: true,
    retry,
    ...(pacer === undefined ? {} : { pacer }),
  });
  clients.push(src, dst);
  await copyImage({
    source: { client: src, repository: 'apps/one', reference: 'v1' },
    destination: { client: dst, repository, tag: 'v1' },
    retry,
  });
  return repository;
}

beforeAll(async () => {
  [source, destination] = await Promise.all([startRegistry(), startRegistry()]);
  image = dockerImage({ seed: 'pacing', layerSizes: [4096, 2048] });
  await pushImage(source, 'apps/one', image, 'v1');
  // A repository with tags, so that blob HEADs are asked before each transfer.
  await pushImage(destination, 'paced/run1', dockerImage({ seed: 'other', layerSizes: [100] }), 'other');
  proxy = await startFaultProxy(destination);
}, 60_000);

afterEach(() => {
  proxy.clearFaults();
  proxy.clearRequests();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([proxy?.stop(), source?.stop(), destination?.stop()]);
});

describe('a paced copy', () => {
  it('draws once per try of every quota-bound call', async () => {
    const pacer = new RecordingPacer();
    const repository = await copy(pacer);
    expect(await manifestDigestOf(destination, repository, 'v1')).toBe(image.root.digest);
    for (const api of [
      'PutImage',
      'InitiateLayerUpload',
      'UploadLayerPart',
      'CompleteLayerUpload',
      'BatchCheckLayerAvailability',
    ] as const) {
      expect(`${api}: ${pacer.count(pacer.taken, api)}`).toBe(`${api}: ${calls(proxy.requests, api)}`);
    }
    // The image: a config and two layers to upload, the manifest stored (by tag).
    expect(pacer.count(pacer.taken, 'CompleteLayerUpload')).toBe(3);
    expect(pacer.count(pacer.taken, 'PutImage')).toBeGreaterThanOrEqual(1);
    expect(pacer.throttles).toEqual([]);
  });

  it('goes on through more throttled answers than transient failures are allowed, telling the pacer each time', async () => {
    const pacer = new RecordingPacer();
    const throttle = { status: 429, body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow' }] }) };
    proxy.addFault({ match: { method: 'PUT', path: /\/manifests\/v1$/, times: 6 }, action: throttle });
    proxy.addFault({ match: { method: 'POST', path: /\/blobs\/uploads\/$/, times: 5 }, action: throttle });
    const repository = await copy(pacer);
    expect(await manifestDigestOf(destination, repository, 'v1')).toBe(image.root.digest);
    expect(pacer.count(pacer.throttles, 'PutImage')).toBe(6);
    expect(pacer.count(pacer.throttles, 'InitiateLayerUpload')).toBe(5);
    // Every try drew again: the retries were paced too.
    expect(pacer.count(pacer.taken, 'PutImage')).toBe(calls(proxy.requests, 'PutImage'));
    expect(pacer.count(pacer.taken, 'PutImage')).toBeGreaterThanOrEqual(7);
  });

  it('still gives up on a registry that keeps failing otherwise (503), after the transient budget', async () => {
    proxy.addFault({ match: { method: 'PUT', path: /\/manifests\/v1$/ }, action: { status: 503 } });
    await expect(copy(new RecordingPacer())).rejects.toMatchObject({ code: ErrorCode.RegistryUnavailable });
    expect(calls(proxy.requests, 'PutImage')).toBe(RETRY.attempts);
  });
});
