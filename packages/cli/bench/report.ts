/** The benchmark's figures: medians, ratios against skopeo, goals, and plain-text tables. */
import type { RequestStats } from './measure';

export type ToolName = 'ours' | 'skopeo' | 'floor';

/** The tools, in the order tables show them. The floor (bench/floor.ts) runs in the cold cases only. */
export const TOOLS: readonly ToolName[] = ['ours', 'skopeo', 'floor'];
export type CaseId = 'cold' | 'warm' | 'latency';
export type ImageKey = 'multi' | 'single';

/** One measured copy. */
export interface Sample {
  round: number;
  caseId: CaseId;
  image: ImageKey;
  tool: ToolName;
  seconds: number;
  /** Peak RSS in KiB (ours: its own maxRSS; skopeo: GNU time), when known. */
  rssKiB?: number;
  /** Through the latency links only. */
  requests?: RequestStats;
  /** CPU seconds used during the copy by the tool, each registry, and this process (the latency links). */
  cpu: CpuSeconds;
  /** Milliseconds after spawn at which the process exited. */
  exitMs: number;
}

export interface CpuSeconds {
  tool?: number;
  source: number;
  destination: number;
  driver: number;
  /** The rest of the machine's busy time meanwhile: other processes (should be ~0). */
  other: number;
}

export interface CaseInfo {
  id: CaseId;
  title: string;
  /** Goal on ours/skopeo, or ours/floor (median seconds, both images summed). */
  goal: number;
  /** What the goal compares ours with: skopeo, or the floor measured in the same run. */
  against: 'skopeo' | 'floor';
}

export const CASES: CaseInfo[] = [
  {
    id: 'cold',
    title: 'loopback cold (empty destination repository, registries directly)',
    goal: 0.9,
    against: 'skopeo',
  },
  {
    id: 'warm',
    title: 'warm, through the latency links (destination already has the tag at the same digest)',
    goal: 0.5,
    against: 'skopeo',
  },
  {
    id: 'latency',
    title: 'latency cold (empty destination repository, through the latency links)',
    goal: 1.05,
    against: 'floor',
  },
];

/** Peak RSS goal of our tool on the large single-layer image. */
export const RSS_GOAL_MIB = 150;

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function mib(kib: number | undefined): string {
  return kib === undefined ? 'n/a' : `${Math.round(kib / 1024)}`;
}

export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

/** Left-aligned first column, right-aligned others unless `left` lists them. */
export function table(rows: string[][], left: number[] = [0]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (left.includes(i) ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function select(samples: Sample[], caseId: CaseId, image: ImageKey | undefined, tool: ToolName): Sample[] {
  return samples.filter((s) => s.caseId === caseId && s.tool === tool && (image === undefined || s.image === image));
}

export interface CaseFigures {
  ours: number;
  skopeo: number;
  ratio: number;
  /** The floor's median seconds and floor/skopeo; NaN where the floor did not run. */
  floor: number;
  floorRatio: number;
}

/** The ratio a case's goal is on: ours/skopeo, or ours/floor. */
export function goalRatio(f: CaseFigures, info: CaseInfo): number {
  return info.against === 'floor' ? f.ours / f.floor : f.ratio;
}

/** The goal as text: `<= 0.90` (of skopeo) or `<= 1.05 x floor`. */
export function goalText(info: CaseInfo): string {
  return info.against === 'floor' ? `ours <= ${info.goal.toFixed(2)} x floor` : `<= ${info.goal.toFixed(2)}`;
}

/** Median seconds of every tool for one image of one case. */
export function figures(samples: Sample[], caseId: CaseId, image: ImageKey): CaseFigures {
  const [ours, skopeo, floor] = TOOLS.map((tool) =>
    median(select(samples, caseId, image, tool).map((s) => s.seconds)),
  ) as [number, number, number];
  return { ours, skopeo, ratio: ours / skopeo, floor, floorRatio: floor / skopeo };
}

/** Both images summed (sum of the per-image medians). */
export function summedFigures(samples: Sample[], caseId: CaseId, images: ImageKey[]): CaseFigures {
  let ours = 0;
  let skopeo = 0;
  let floor = 0;
  for (const image of images) {
    const f = figures(samples, caseId, image);
    ours += f.ours;
    skopeo += f.skopeo;
    floor += f.floor;
  }
  return { ours, skopeo, ratio: ours / skopeo, floor, floorRatio: floor / skopeo };
}

export function peakRss(
  samples: Sample[],
  caseId: CaseId | undefined,
  image: ImageKey,
  tool: ToolName,
): number | undefined {
  const values = samples
    .filter((s) => (caseId === undefined || s.caseId === caseId) && s.image === image && s.tool === tool)
    .map((s) => s.rssKiB)
    .filter((v): v is number => v !== undefined);
  return values.length === 0 ? undefined : Math.max(...values);
}

function runsOf(samples: Sample[], caseId: CaseId, image: ImageKey, tool: ToolName): string {
  return select(samples, caseId, image, tool)
    .sort((a, b) => a.round - b.round)
    .map((s) => s.seconds.toFixed(2))
    .join(' ');
}

/** The table of one case: one row per image and a row with both summed; the floor's columns where it ran. */
export function caseTable(samples: Sample[], info: CaseInfo, images: Array<{ key: ImageKey; name: string }>): string {
  const withFloor = samples.some((s) => s.caseId === info.id && s.tool === 'floor');
  const floorCells = (f: CaseFigures): string[] => (withFloor ? [f.floor.toFixed(2), f.floorRatio.toFixed(2)] : []);
  const header = [
    'image',
    'ours s',
    'skopeo s',
    'ours/skopeo',
    'goal',
    '',
    ...(withFloor ? ['floor s', 'floor/skopeo'] : []),
    'ours peak RSS MiB',
    'skopeo peak RSS MiB',
  ];
  header.push(`runs ours | skopeo${withFloor ? ' | floor' : ''} (s)`);
  const rows: string[][] = [header];
  for (const { key, name } of images) {
    const f = figures(samples, info.id, key);
    rows.push([
      name,
      f.ours.toFixed(2),
      f.skopeo.toFixed(2),
      f.ratio.toFixed(2),
      goalText(info),
      verdict(goalRatio(f, info) <= info.goal),
      ...floorCells(f),
      mib(peakRss(samples, info.id, key, 'ours')),
      mib(peakRss(samples, info.id, key, 'skopeo')),
      TOOLS.filter((tool) => withFloor || tool !== 'floor')
        .map((tool) => runsOf(samples, info.id, key, tool))
        .join(' | '),
    ]);
  }
  if (images.length > 1) {
    const sum = summedFigures(
      samples,
      info.id,
      images.map((i) => i.key),
    );
    rows.push([
      'both (sum)',
      sum.ours.toFixed(2),
      sum.skopeo.toFixed(2),
      sum.ratio.toFixed(2),
      goalText(info),
      verdict(goalRatio(sum, info) <= info.goal),
      ...floorCells(sum),
      '',
      '',
      '',
    ]);
  }
  return table(rows, [0, 5, header.length - 1]);
}

function ms(value: number | undefined): string {
  return value === undefined ? '-' : `${Math.round(value)}`;
}

/** A compact `METHOD kind×n` list, most frequent first. */
export function kinds(byKind: Record<string, number>): string {
  return Object.entries(byKind)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
}

/** The request figures of the cases through the links: the median copy of each tool (by seconds). */
export function requestTable(
  samples: Sample[],
  caseIds: CaseId[],
  images: Array<{ key: ImageKey; name: string; blobs: number }>,
): string {
  const rows: string[][] = [
    [
      'case',
      'image',
      'tool',
      'requests',
      'src',
      'dst',
      'blob reqs',
      'per blob',
      'waves',
      'max in flight',
      'max PATCH in flight',
      '1st req ms',
      '1st PATCH ms',
      'last answer ms',
      'exit ms',
    ],
  ];
  for (const caseId of caseIds) {
    for (const image of images) {
      for (const tool of TOOLS) {
        const chosen = select(samples, caseId, image.key, tool).filter((s) => s.requests !== undefined);
        if (chosen.length === 0) continue;
        const mid = [...chosen].sort((a, b) => a.seconds - b.seconds)[Math.floor((chosen.length - 1) / 2)] as Sample;
        const r = mid.requests as RequestStats;
        rows.push([
          caseId,
          image.name,
          tool,
          String(r.total),
          String(r.source),
          String(r.destination),
          String(r.blobRequests),
          (r.blobRequests / image.blobs).toFixed(1),
          String(r.waves),
          String(r.maxInFlight),
          String(r.maxUploadsInFlight),
          ms(r.firstRequestMs),
          ms(r.firstUploadMs),
          ms(r.lastAnswerMs),
          ms(mid.exitMs),
        ]);
      }
    }
  }
  return table(rows, [0, 1, 2]);
}

function cpuCell(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(2);
}

/**
 * CPU seconds per copy (medians over the rounds) of every process involved, and how many
 * cores were busy on average (all CPU / wall time).
 */
export function cpuTable(samples: Sample[], caseIds: CaseId[], images: Array<{ key: ImageKey; name: string }>): string {
  const rows: string[][] = [
    [
      'case',
      'image',
      'tool',
      'wall s',
      'tool CPU s',
      'src registry',
      'dst registry',
      'links',
      'all CPU s',
      'cores busy',
      'others CPU s',
    ],
  ];
  for (const caseId of caseIds) {
    for (const image of images) {
      for (const tool of TOOLS) {
        const chosen = select(samples, caseId, image.key, tool);
        if (chosen.length === 0) continue;
        const toolCpu = chosen.map((s) => s.cpu.tool).filter((v): v is number => v !== undefined);
        const all = chosen.map((s) => (s.cpu.tool ?? 0) + s.cpu.source + s.cpu.destination + s.cpu.driver);
        const wall = median(chosen.map((s) => s.seconds));
        rows.push([
          caseId,
          image.name,
          tool,
          wall.toFixed(2),
          toolCpu.length > 0 ? cpuCell(median(toolCpu)) : 'n/a',
          cpuCell(median(chosen.map((s) => s.cpu.source))),
          cpuCell(median(chosen.map((s) => s.cpu.destination))),
          caseId === 'cold' ? '-' : cpuCell(median(chosen.map((s) => s.cpu.driver))),
          cpuCell(median(all)),
          (median(all) / wall).toFixed(2),
          cpuCell(median(chosen.map((s) => s.cpu.other))),
        ]);
      }
    }
  }
  return table(rows, [0, 1, 2]);
}
