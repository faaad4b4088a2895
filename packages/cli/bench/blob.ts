/**
 * The blob case of `npm run bench` (`--cases blob`): the data path of one large layer, start-up excluded. One 512 MiB
 * layer goes from the source to the destination through the latency links, alternately by
 *
 *   floor       the floor's own pipe (bench/floor.ts): `curl GET | curl PATCH`, then the commit; no hash
 *   verified    our registry client as the copy engine streams a blob: GET body → DigestVerifier (SHA-256 and
 *               size, failing the upload before its end on a mismatch) → one streamed PATCH → commit
 *   unverified  the same without the verifier: what our HTTP path costs by itself
 *
 * It has no goal of its own. It says where the latency case's time goes on a large layer: how far our HTTP path is
 * from the floor's pipe, and what verifying the digest while streaming adds (CPU, and wall time on a machine whose
 * cores the registries and the links already keep busy).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  largeSingleLayerImage,
  pushImage,
  startLatencyLink,
  type LatencyLink,
  type LocalRegistry,
} from '@ecr-replicate/testing';
import { FLOOR_BLOB_PIPE } from './floor';
import { hasGnuTime, runMeasured } from './measure';
import { median, table } from './report';

const TIMEOUT_MS = 10 * 60 * 1000;
const MODES = ['floor', 'verified', 'unverified'] as const;
type Mode = (typeof MODES)[number];

export interface BlobBenchOptions {
  rounds: number;
  quick: boolean;
  latencyMs: number;
  /** The child entry for our client (bench/blob-entry.ts, bundled). */
  entry: string;
  env: NodeJS.ProcessEnv;
  runDir: string;
  startRegistries: () => Promise<[LocalRegistry, LocalRegistry]>;
  /** Registers what the bench's cleanup stops. */
  track: (resource: { registry?: LocalRegistry; link?: LatencyLink }) => void;
  out: (line?: string) => void;
}

interface BlobSample {
  mode: Mode;
  /** Transfer wall time, first request to the commit's answer. */
  seconds: number;
  /** CPU of the whole process (GNU time): bash and the curls for the floor, the Node process for ours. */
  cpuSeconds?: number;
  /** Our process's CPU over the transfer alone. */
  transferCpuSeconds?: number;
}

/** The floor's pipe for one blob, timing itself with bash's clock; writes `{"seconds":S}` to fd 3. */
function floorScript(dir: string): string {
  const script = join(dir, 'floor-blob.sh');
  writeFileSync(
    script,
    [
      '#!/usr/bin/env bash',
      '# One blob as the floor copies it (bench/floor.ts): curl GET | curl PATCH, then the commit. No hash.',
      'set -uo pipefail',
      'src=$1 src_repo=$2 dst=$3 dst_repo=$4 digest=$5 size=$6',
      'S="http://$src/v2/$src_repo" D="http://$dst/v2/$dst_repo" origin="http://$dst"',
      ...FLOOR_BLOB_PIPE,
      'started=$EPOCHREALTIME',
      'blob "$digest" "$size"',
      'ended=$EPOCHREALTIME',
      'awk -v s="$started" -v e="$ended" \'BEGIN { printf "{\\"seconds\\":%.6f}\\n", e - s }\' >&3',
      '',
    ].join('\n'),
  );
  return script;
}

export async function runBlobBench(options: BlobBenchOptions): Promise<void> {
  const { rounds, quick, latencyMs, out } = options;
  const sizeMiB = quick ? 64 : 512;
  const [source, destination] = await options.startRegistries();
  options.track({ registry: source });
  options.track({ registry: destination });
  const image = await largeSingleLayerImage({ seed: 'bench-blob', sizeMiB });
  const layer = image.blobs[0];
  if (layer === undefined) throw new Error('the synthetic image has no layer');
  await pushImage(source, 'bench/blob', image, 'v1');
  const sourceLink = await startLatencyLink(source, { latencyMs });
  options.track({ link: sourceLink });
  const destinationLink = await startLatencyLink(destination, { latencyMs });
  options.track({ link: destinationLink });
  const script = floorScript(options.runDir);
  out(`blob: one ${sizeMiB} MiB layer through the latency links (${latencyMs} ms each way), ${rounds} rounds`);

  const samples: BlobSample[] = [];
  let run = 0;
  for (let round = 1; round <= rounds; round += 1) {
    for (const mode of MODES) {
      run += 1;
      const repository = `blob/${mode}/${round}`;
      const args = [sourceLink.host, 'bench/blob', destinationLink.host, repository, layer.digest, String(layer.size)];
      const timeFile = join(options.runDir, `blob-time-${run}.txt`);
      const outcome =
        mode === 'floor'
          ? await runMeasured('bash', [script, ...args], { env: options.env, timeoutMs: TIMEOUT_MS, timeFile })
          : await runMeasured(process.execPath, [options.entry, mode, ...args], {
              env: options.env,
              timeoutMs: TIMEOUT_MS,
              timeFile,
            });
      if (outcome.code !== 0)
        throw new Error(
          `blob ${mode}: exited ${outcome.code ?? outcome.signal}: ${outcome.stderr.trim().slice(-2000)}`,
        );
      const figures = JSON.parse(outcome.fd3.trim().split('\n').at(-1) ?? '{}') as {
        seconds?: number;
        cpuSeconds?: number;
      };
      if (typeof figures.seconds !== 'number') throw new Error(`blob ${mode}: no timing on fd 3 (${outcome.fd3})`);
      samples.push({
        mode,
        seconds: figures.seconds,
        ...(outcome.timeCpuSeconds !== undefined ? { cpuSeconds: outcome.timeCpuSeconds } : {}),
        ...(typeof figures.cpuSeconds === 'number' ? { transferCpuSeconds: figures.cpuSeconds } : {}),
      });
      out(`  round ${round} ${mode.padEnd(10)} ${figures.seconds.toFixed(2)} s`);
    }
  }

  const of = (mode: Mode, pick: (s: BlobSample) => number | undefined): number | undefined => {
    const values = samples
      .filter((s) => s.mode === mode)
      .map(pick)
      .filter((v): v is number => v !== undefined);
    return values.length === 0 ? undefined : median(values);
  };
  const floor = of('floor', (s) => s.seconds) as number;
  const fixed = (value: number | undefined, digits = 2): string => (value === undefined ? '-' : value.toFixed(digits));
  out();
  out(
    `BLOB PATH (median of ${rounds} rounds; transfer only: first request to the commit's answer)${hasGnuTime ? '' : ' [no GNU time: no whole-process CPU]'}`,
  );
  out(
    table(
      [
        ['tool', 'transfer s', 'MiB/s', '/ floor', 'CPU s (process)', 'CPU s (transfer)', 'runs (s)'],
        ...MODES.map((mode) => {
          const seconds = of(mode, (s) => s.seconds) as number;
          return [
            mode,
            seconds.toFixed(2),
            (sizeMiB / seconds).toFixed(0),
            (seconds / floor).toFixed(2),
            fixed(of(mode, (s) => s.cpuSeconds)),
            fixed(of(mode, (s) => s.transferCpuSeconds)),
            samples
              .filter((s) => s.mode === mode)
              .map((s) => s.seconds.toFixed(2))
              .join(' '),
          ];
        }),
      ],
      [0],
    ),
  );
  const verifiedCpu = of('verified', (s) => s.transferCpuSeconds);
  const unverifiedCpu = of('unverified', (s) => s.transferCpuSeconds);
  if (verifiedCpu !== undefined && unverifiedCpu !== undefined) {
    const hashCpu = verifiedCpu - unverifiedCpu;
    const verifiedWall = of('verified', (s) => s.seconds) as number;
    const unverifiedWall = of('unverified', (s) => s.seconds) as number;
    out(
      `verification: ${hashCpu.toFixed(2)} CPU s per ${sizeMiB} MiB (${hashCpu > 0 ? (sizeMiB / hashCpu).toFixed(0) : '-'} MiB/s of SHA-256 ` +
        `on the event loop), ${(verifiedWall - unverifiedWall).toFixed(2)} s of wall time; ` +
        `our HTTP path alone is ${(unverifiedWall / floor).toFixed(2)} x the floor's pipe`,
    );
  }
}
