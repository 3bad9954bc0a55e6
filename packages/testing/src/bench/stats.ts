/**
 * Latency statistics of the benchmark, pure: a sparse histogram of whole microseconds (what wrk
 * records), percentiles by rank, the tail beyond a threshold, and merging runs. No I/O here.
 */

/** Latency percentiles and extremes of one run or of runs pooled, in milliseconds. */
export interface LatencySummary {
  requests: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export class LatencyHistogram {
  /** Count per latency in whole µs. */
  private readonly counts = new Map<number, number>();
  private total = 0;

  static fromPairs(pairs: ReadonlyArray<readonly [number, number]>): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const [us, count] of pairs) h.add(us, count);
    return h;
  }

  /** Records `count` requests that took `us` microseconds (rounded to whole µs, never negative). */
  add(us: number, count = 1): void {
    if (!Number.isFinite(us) || !Number.isInteger(count) || count < 0) {
      throw new RangeError(`a latency histogram takes a finite latency and a whole count; got ${us} µs × ${count}`);
    }
    if (count === 0) return;
    const key = Math.max(0, Math.round(us));
    this.counts.set(key, (this.counts.get(key) ?? 0) + count);
    this.total += count;
  }

  merge(other: LatencyHistogram): void {
    for (const [us, count] of other.counts) this.add(us, count);
  }

  get count(): number {
    return this.total;
  }

  /** [µs, count] pairs in increasing latency. */
  pairs(): Array<[number, number]> {
    return [...this.counts.entries()].sort((a, b) => a[0] - b[0]);
  }

  /**
   * The smallest latency (µs) at or below which at least `p` percent of the requests fall
   * (nearest-rank: rank ⌈p/100 × n⌉, at least 1). 0 for an empty histogram.
   */
  percentileUs(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`a percentile is from 0 to 100; got ${p}`);
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total - 1e-9));
    let seen = 0;
    const sorted = this.pairs();
    for (const [us, count] of sorted) {
      seen += count;
      if (seen >= rank) return us;
    }
    return sorted[sorted.length - 1][0];
  }

  maxUs(): number {
    let max = 0;
    for (const us of this.counts.keys()) if (us > max) max = us;
    return max;
  }

  /** How many requests took strictly longer than `us`. */
  countOver(us: number): number {
    let n = 0;
    for (const [v, count] of this.counts) if (v > us) n += count;
    return n;
  }

  summary(): LatencySummary {
    let sum = 0;
    for (const [us, count] of this.counts) sum += us * count;
    return {
      requests: this.total,
      p50: this.percentileUs(50) / 1000,
      p90: this.percentileUs(90) / 1000,
      p99: this.percentileUs(99) / 1000,
      p999: this.percentileUs(99.9) / 1000,
      max: this.maxUs() / 1000,
      mean: this.total > 0 ? sum / this.total / 1000 : 0,
    };
  }
}

/**
 * wrk adds synthetic samples to its latency histogram before handing it to a script (a rough
 * "coordinated omission" correction): every request that took n ≥ 2e µs adds one sample at each
 * of n − e, n − 2e, … while the value stays above e, where e = run µs / (requests / connections).
 * So below e the corrected count C equals the real one, and above it C(v) − C(v + e) is the real
 * count H(v). This undoes it exactly; the bench checks the real counts add up to wrk's request
 * count, so a wrk that corrects differently is noticed instead of trusted.
 */
export function uncorrectWrkHistogram(corrected: ReadonlyArray<readonly [number, number]>, correctionUs: number): Array<[number, number]> {
  const byUs = new Map<number, number>();
  for (const [us, count] of corrected) byUs.set(us, (byUs.get(us) ?? 0) + count);
  const out: Array<[number, number]> = [];
  for (const [us, count] of [...byUs.entries()].sort((a, b) => a[0] - b[0])) {
    const real = correctionUs > 0 && us > correctionUs ? count - (byUs.get(us + correctionUs) ?? 0) : count;
    if (real < 0) {
      throw new RangeError(`wrk's histogram does not undo as expected (negative count at ${us} µs with e = ${correctionUs} µs)`);
    }
    if (real > 0) out.push([us, real]);
  }
  return out;
}

/** The correction interval wrk uses: run µs / ⌊requests / connections⌋ (integer division), 0 if none. */
export function wrkCorrectionUs(runtimeUs: number, requests: number, connections: number): number {
  const perConnection = Math.floor(requests / connections);
  return perConnection > 0 ? Math.floor(runtimeUs / perConnection) : 0;
}

/** Requests over this many times the run's own p99 are stalls (the rule). */
export const STALL_FACTOR = 10;

export interface StallCheck {
  p99Ms: number;
  thresholdMs: number;
  /** Requests slower than STALL_FACTOR × p99. */
  stalled: number;
  maxMs: number;
}

export function checkStalls(h: LatencyHistogram, factor = STALL_FACTOR): StallCheck {
  const p99Us = h.percentileUs(99);
  const thresholdUs = p99Us * factor;
  return { p99Ms: p99Us / 1000, thresholdMs: thresholdUs / 1000, stalled: h.countOver(thresholdUs), maxMs: h.maxUs() / 1000 };
}

/** Median of a list (mean of the middle two when even); NaN when empty. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Nearest-rank percentile of plain values (ms, say); 0 when empty. */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length - 1e-9));
  return s[Math.min(rank, s.length) - 1];
}

export function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
