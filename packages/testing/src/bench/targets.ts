/**
 * The performance targets of issue 13 (item 2) and the verdict on a measurement, pure. Ratios
 * compare the notary with a bare node:http server measured in the same run, so they hold on any
 * machine; the absolute ones (refreshes a second, MB, bytes) are stated for the 2-core machine of
 * DESIGN's performance budget.
 */

export type Comparison = 'at-least' | 'at-most' | 'exactly';

export interface TargetSpec {
  id: TargetId;
  /** What is measured, for a reader. */
  label: string;
  comparison: Comparison;
  target: number;
  /** Unit after the number: 'x' for ratios, 'origins/s', 'MB', 'B'; counts: 'fetches', 'requests'. */
  unit: string;
}

export type TargetId =
  | 'get_throughput'
  | 'get_p99'
  | 'post100_throughput'
  | 'no_stalls'
  | 'stampede_exact'
  | 'refresh_rate'
  | 'rss_cached'
  | 'rss_unknown'
  | 'redis_bytes';

export const TARGETS: readonly TargetSpec[] = [
  { id: 'get_throughput', label: 'cache-hit GET /query/{server}: req/s vs bare node:http', comparison: 'at-least', target: 0.9, unit: 'x' },
  { id: 'get_p99', label: 'cache-hit GET /query/{server}: p99 vs bare node:http', comparison: 'at-most', target: 1.5, unit: 'x' },
  { id: 'post100_throughput', label: 'POST of 100 cached servers: req/s vs bare node:http', comparison: 'at-least', target: 0.6, unit: 'x' },
  { id: 'no_stalls', label: 'notary requests slower than 10× their run\'s p99', comparison: 'at-most', target: 0, unit: 'requests' },
  { id: 'stampede_exact', label: 'stampede: origin fetches (one per origin)', comparison: 'exactly', target: 100, unit: 'fetches' },
  { id: 'refresh_rate', label: 'one worker, in-process signer: origins refreshed a second', comparison: 'at-least', target: 1000, unit: 'origins/s' },
  { id: 'rss_cached', label: 'api RSS after 100,000 cached servers queried', comparison: 'at-most', target: 150, unit: 'MB' },
  { id: 'rss_unknown', label: 'api RSS after 100,000 unknown servers queried', comparison: 'at-most', target: 150, unit: 'MB' },
  { id: 'redis_bytes', label: 'Redis bytes per cached server (~1 KB response)', comparison: 'at-most', target: 1536, unit: 'B' },
];

export interface Verdict {
  id: TargetId;
  label: string;
  comparison: Comparison;
  target: number;
  unit: string;
  /** undefined when the scenario did not run (or could not measure it). */
  measured?: number;
  /** Extra words for the reader, e.g. the size the measurement was made at. */
  note?: string;
  status: 'met' | 'missed' | 'not measured';
  /** How far from the target, for a reader: "9% short", "2.1× over", "met with 12% to spare". */
  margin: string;
  /**
   * Measured relative to the target, oriented so that 1 is on target and more is better (for
   * the chart); undefined where it means nothing (exact or zero targets, not measured).
   */
  score?: number;
}

function percent(n: number): string {
  return `${Math.round(Math.abs(n) * 100)}%`;
}

export function judge(spec: TargetSpec, measured: number | undefined, note?: string): Verdict {
  const base = { id: spec.id, label: spec.label, comparison: spec.comparison, target: spec.target, unit: spec.unit, note };
  if (measured === undefined || !Number.isFinite(measured)) return { ...base, status: 'not measured', margin: 'not measured' };
  switch (spec.comparison) {
    case 'at-least': {
      const score = spec.target > 0 ? measured / spec.target : measured >= 0 ? Infinity : 0;
      const met = measured >= spec.target;
      return { ...base, measured, status: met ? 'met' : 'missed', score, margin: met ? `met, ${percent(score - 1)} above` : `${percent(1 - score)} short` };
    }
    case 'at-most': {
      const met = measured <= spec.target;
      if (spec.target === 0) return { ...base, measured, status: met ? 'met' : 'missed', margin: met ? 'met' : `${measured} over` };
      const score = measured > 0 ? spec.target / measured : Infinity;
      const over = measured / spec.target;
      return {
        ...base,
        measured,
        status: met ? 'met' : 'missed',
        score,
        margin: met ? `met, ${percent(1 - over)} below` : over >= 2 ? `${over.toFixed(1)}× the target` : `${percent(over - 1)} over`,
      };
    }
    case 'exactly': {
      const met = measured === spec.target;
      return { ...base, measured, status: met ? 'met' : 'missed', margin: met ? 'exact' : `${measured - spec.target > 0 ? '+' : ''}${measured - spec.target}` };
    }
  }
}

/** Verdicts on every target, in TARGETS order; ids without a measurement are "not measured". */
export function judgeAll(measured: Partial<Record<TargetId, { value: number; note?: string; target?: number }>>): Verdict[] {
  return TARGETS.map((spec) => {
    const m = measured[spec.id];
    // A target that scales with the run (the stampede's origin count) may be restated.
    const effective = m?.target === undefined ? spec : { ...spec, target: m.target };
    return judge(effective, m?.value, m?.note);
  });
}

export function formatTarget(v: Pick<Verdict, 'comparison' | 'target' | 'unit'>): string {
  const op = v.comparison === 'at-least' ? '≥' : v.comparison === 'at-most' ? '≤' : '=';
  return `${op} ${formatValue(v.target, v.unit)}`;
}

export function formatValue(n: number, unit: string): string {
  if (unit === 'x') return `${n.toFixed(2)}×`;
  if (unit === 'MB') return `${n.toFixed(0)} MB`;
  if (unit === 'B') return `${Math.round(n).toLocaleString('en-US')} B`;
  if (unit === 'origins/s') return `${Math.round(n).toLocaleString('en-US')}/s`;
  // Counts (requests, fetches): the label says what is counted.
  return Math.round(n).toLocaleString('en-US');
}
