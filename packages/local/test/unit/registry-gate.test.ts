import { request } from 'node:http';
import { listenOnLoopback } from '@ecr-replicate/testing';
import { gatedApiOf, startRegistryGate, type RegistryGate } from '../../src';

/** The destination gate's quotas: ECR's mapping of the distribution API's calls, and 429 past a quota. */

describe('gatedApiOf', () => {
  it.each([
    ['PUT', '/v2/team/app/manifests/v1', 'PutImage'],
    ['PUT', '/v2/team/app/manifests/sha256:abc', 'PutImage'],
    ['POST', '/v2/team/app/blobs/uploads/', 'InitiateLayerUpload'],
    ['POST', '/v2/team/app/blobs/uploads/?mount=sha256:abc&from=other', 'InitiateLayerUpload'],
    ['PATCH', '/v2/team/app/blobs/uploads/0a1b2c', 'UploadLayerPart'],
    ['PUT', '/v2/team/app/blobs/uploads/0a1b2c?digest=sha256:abc', 'CompleteLayerUpload'],
    ['HEAD', '/v2/team/app/blobs/sha256:0123abcd', 'BatchCheckLayerAvailability'],
    ['GET', '/v2/team/app/blobs/sha256:0123abcd', undefined],
    ['GET', '/v2/team/app/manifests/v1', undefined],
    ['HEAD', '/v2/team/app/manifests/v1', undefined],
  ])('%s %s → %s', (method, url, api) => {
    expect(gatedApiOf(method, url)).toBe(api);
  });
});

describe('a gate with quotas', () => {
  let gate: RegistryGate;
  let stopUpstream: () => Promise<void>;

  beforeAll(async () => {
    const upstream = await listenOnLoopback(async (req, res) => {
      for await (const chunk of req) void chunk;
      res.writeHead(201).end();
    });
    stopUpstream = () => upstream.close();
    gate = await startRegistryGate(upstream);
  });

  afterAll(async () => {
    await gate.stop();
    await stopUpstream();
  });

  const put = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const url = new URL(path, gate.url);
      const req = request(url, { method: 'PUT', headers: { 'content-length': '2' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end('{}');
    });

  it('answers 429 TOOMANYREQUESTS past one second of the quota, and lets calls through again as it refills', async () => {
    gate.setQuotas({ PutImage: 5 });
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => put(`/v2/team/app/manifests/t${i}`)));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(5);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(3);
    expect(JSON.parse(refused[0]?.body ?? '{}')).toMatchObject({ errors: [{ code: 'TOOMANYREQUESTS' }] });
    expect(gate.throttled.PutImage).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect((await put('/v2/team/app/manifests/later')).status).toBe(201);
    // Calls of an API without a quota are never refused.
    gate.setQuotas(undefined);
    const free = await Promise.all(Array.from({ length: 20 }, (_, i) => put(`/v2/team/app/manifests/f${i}`)));
    expect(free.every((a) => a.status === 201)).toBe(true);
  });
});
