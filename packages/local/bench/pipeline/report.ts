/**
 * What a case of `npm run bench:pipeline` reports: each figure with the model inputs it was measured under and the
 * goal it is compared with.
 */

export interface Goal {
  /** The figure must be at most, at least, or exactly this. */
  op: '<=' | '>=' | '==';
  value: number;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  goal?: Goal;
  /** How the figure was obtained (its inputs beyond the case's model). */
  note?: string;
}

export interface CaseReport {
  name: string;
  title: string;
  /** The model's inputs: time scale, modelled delays, quotas, sizes (name → value with its unit). */
  model: Record<string, string>;
  figures: Figure[];
  notes?: string[];
}

/** The options every case gets (from the command line). */
export interface BenchOptions {
  /** `--scale X`: a case's own time scale, when it has one, is replaced by X. */
  timeScale?: number;
  /** `--quick`: smaller runs (for a smoke test). */
  quick?: boolean;
}

export function meets(figure: Figure): boolean | undefined {
  const goal = figure.goal;
  if (goal === undefined) return undefined;
  if (goal.op === '<=') return figure.value <= goal.value;
  if (goal.op === '>=') return figure.value >= goal.value;
  return figure.value === goal.value;
}

/** The p-th percentile (0-100) of the values, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}
