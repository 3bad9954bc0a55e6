import { processDiagnostics, refreshOutcomes } from '../../src/bench/diagnostics';
import { counterDelta, largestBucketReached, observationsAbove, parsePrometheusText, Scrape } from '../../src/bench/prom-text';

const P = 'matrix_notary_';

function gcScrape(count: number, sum: number, buckets: Record<string, number>, extra = ''): Scrape {
  const lines = [
    `# HELP ${P}nodejs_gc_duration_seconds GC`,
    `# TYPE ${P}nodejs_gc_duration_seconds histogram`,
    ...Object.entries(buckets).map(([le, n]) => `${P}nodejs_gc_duration_seconds_bucket{le="${le}",kind="major",role="all"} ${n}`),
    `${P}nodejs_gc_duration_seconds_sum{kind="major",role="all"} ${sum}`,
    `${P}nodejs_gc_duration_seconds_count{kind="major",role="all"} ${count}`,
    extra,
  ];
  return Scrape.parse(lines.join('\n'));
}

describe('reading Prometheus text', () => {
  it('parses names, labels (escapes too) and values', () => {
    const samples = parsePrometheusText('# HELP x y\nfoo_total{a="1",b="q\\"t"} 3\nbar 1.5e3\nbaz{le="+Inf"} +Inf\n');
    expect(samples).toEqual([
      { name: 'foo_total', labels: { a: '1', b: 'q"t' }, value: 3 },
      { name: 'bar', labels: {}, value: 1500 },
      { name: 'baz', labels: { le: '+Inf' }, value: Infinity },
    ]);
  });

  it('sums matching series and takes differences between scrapes', () => {
    const before = Scrape.parse(`${P}refreshes_total{outcome="stored",role="worker"} 10\n${P}refreshes_total{outcome="failed",role="worker"} 1\n`);
    const after = Scrape.parse(`${P}refreshes_total{outcome="stored",role="worker"} 110\n${P}refreshes_total{outcome="failed",role="worker"} 1\n${P}refreshes_total{outcome="skipped",role="worker"} 2\n`);
    expect(after.sum(`${P}refreshes_total`)).toBe(113);
    expect(counterDelta(before, after, `${P}refreshes_total`, { outcome: 'stored' })).toBe(100);
    expect(refreshOutcomes(before, after)).toEqual({ stored: 100, skipped: 2 });
  });

  it('finds the observations above a bucket and the largest bucket reached', () => {
    const before = gcScrape(10, 0.05, { '0.001': 5, '0.01': 10, '0.1': 10, '1': 10, '+Inf': 10 });
    const after = gcScrape(14, 1.4, { '0.001': 6, '0.01': 11, '0.1': 12, '1': 14, '+Inf': 14 });
    expect(observationsAbove(before, after, `${P}nodejs_gc_duration_seconds`, '0.1')).toBe(2);
    expect(largestBucketReached(before, after, `${P}nodejs_gc_duration_seconds`)).toBe('1');
    expect(largestBucketReached(before, before, `${P}nodejs_gc_duration_seconds`)).toBeUndefined();
  });

  it('summarises a notary process\'s run', () => {
    const before = gcScrape(10, 0.05, { '0.001': 5, '0.01': 10, '0.1': 10, '1': 10, '+Inf': 10 });
    const after = gcScrape(12, 0.35, { '0.001': 5, '0.01': 11, '0.1': 12, '1': 12, '+Inf': 12 }, `${P}nodejs_eventloop_lag_max_seconds{role="all"} 0.2523\n${P}nodejs_heap_size_used_bytes{role="all"} 52000000`);
    expect(processDiagnostics(before, after)).toEqual({
      eventLoopMaxMs: 252.3,
      gcMs: { major: 300 },
      gcCount: 2,
      gcLongestBucketS: '0.1',
      requestsOverOneSecond: 0,
      heapUsedMB: 52,
    });
  });
});
