import { checkStalls, LatencyHistogram, median, percentileOf, uncorrectWrkHistogram, wrkCorrectionUs } from '../../src/bench/stats';

/** wrk 4.1's stats_correct, as its C source does it, for the tests to correct with. */
function wrkCorrect(real: Array<[number, number]>, expected: number): Array<[number, number]> {
  const data = new Map<number, number>(real);
  const max = Math.max(...real.map(([v]) => v));
  for (let n = expected * 2; n <= max; n++) {
    const count = data.get(n) ?? 0;
    for (let m = n - expected; count > 0 && m > expected; m -= expected) data.set(m, (data.get(m) ?? 0) + count);
  }
  return [...data.entries()].filter(([, c]) => c > 0).sort((a, b) => a[0] - b[0]);
}

describe('LatencyHistogram', () => {
  it('gives nearest-rank percentiles', () => {
    const h = new LatencyHistogram();
    for (let us = 1; us <= 1000; us++) h.add(us);
    expect(h.percentileUs(50)).toBe(500);
    expect(h.percentileUs(99)).toBe(990);
    expect(h.percentileUs(99.9)).toBe(999);
    expect(h.percentileUs(100)).toBe(1000);
    expect(h.percentileUs(0)).toBe(1);
    expect(h.maxUs()).toBe(1000);
  });

  it('weights values by their counts and merges runs', () => {
    const a = LatencyHistogram.fromPairs([[100, 98], [5000, 2]]);
    expect(a.percentileUs(98)).toBe(100);
    expect(a.percentileUs(99)).toBe(5000);
    const b = LatencyHistogram.fromPairs([[100, 100]]);
    a.merge(b);
    expect(a.count).toBe(200);
    // 198 of 200 at 100 µs: p99 is rank 198, p99.5 rank 199.
    expect(a.percentileUs(99)).toBe(100);
    expect(a.percentileUs(99.5)).toBe(5000);
  });

  it('summarises in milliseconds and is empty-safe', () => {
    expect(new LatencyHistogram().summary()).toEqual({ requests: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 });
    const s = LatencyHistogram.fromPairs([[1000, 1], [3000, 1]]).summary();
    expect(s.mean).toBe(2);
    expect(s.max).toBe(3);
  });

  it('refuses negative counts and infinite latencies', () => {
    expect(() => new LatencyHistogram().add(Infinity)).toThrow(RangeError);
    expect(() => new LatencyHistogram().add(5, -1)).toThrow(RangeError);
  });
});

describe('checkStalls', () => {
  it('counts requests over 10x the run p99', () => {
    const h = LatencyHistogram.fromPairs([[1000, 9_900], [2000, 95], [15_000, 3], [30_000, 2]]);
    const s = checkStalls(h);
    expect(s.p99Ms).toBe(1);
    expect(s.thresholdMs).toBe(10);
    expect(s.stalled).toBe(5);
    expect(s.maxMs).toBe(30);
  });

  it('finds none in a run without a tail', () => {
    expect(checkStalls(LatencyHistogram.fromPairs([[800, 500], [1200, 500]])).stalled).toBe(0);
  });
});

describe('undoing wrk\'s correction', () => {
  it('computes the interval as wrk does (integer divisions)', () => {
    expect(wrkCorrectionUs(2_006_377, 73_830, 50)).toBe(1359);
    expect(wrkCorrectionUs(1_000_000, 10, 50)).toBe(0);
  });

  it('gives back the real histogram, a 3 s stall counted once per request', () => {
    const real: Array<[number, number]> = [[400, 1000], [900, 3000], [1500, 500], [4000, 20], [3_000_000, 50]];
    const e = 1000;
    const corrected = wrkCorrect(real, e);
    // The correction adds thousands of samples: a p99 computed on it would hide the stall.
    expect(corrected.reduce((a, [, c]) => a + c, 0)).toBeGreaterThan(100_000);
    expect(uncorrectWrkHistogram(corrected, e)).toEqual(real);
  });

  it('gives back random histograms exactly', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let t = 0; t < 20; t++) {
      const map = new Map<number, number>();
      for (let i = 0; i < 200; i++) {
        const us = 1 + Math.floor(rand() ** 4 * 200_000);
        map.set(us, (map.get(us) ?? 0) + 1 + Math.floor(rand() * 5));
      }
      const real = [...map.entries()].sort((a, b) => a[0] - b[0]);
      const e = 100 + Math.floor(rand() * 2000);
      expect(uncorrectWrkHistogram(wrkCorrect(real, e), e)).toEqual(real);
    }
  });

  it('leaves a histogram alone when there is no interval', () => {
    expect(uncorrectWrkHistogram([[5, 2], [9, 1]], 0)).toEqual([[5, 2], [9, 1]]);
  });

  it('says so when the histogram was not corrected the way it expects', () => {
    expect(() => uncorrectWrkHistogram([[1500, 1], [2500, 5]], 1000)).toThrow(/does not undo/);
  });
});

describe('plain statistics', () => {
  it('median and percentiles of values', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(percentileOf([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentileOf([5, 1, 4, 2, 3], 100)).toBe(5);
    expect(percentileOf([], 99)).toBe(0);
  });
});
