import { formatTarget, judge, judgeAll, TARGETS } from '../../src/bench/targets';

const spec = (id: string) => TARGETS.find((t) => t.id === id)!;

describe('judging a measurement against the issue\'s targets', () => {
  it('an at-least ratio: met at the target, missed below, with the shortfall', () => {
    expect(judge(spec('get_throughput'), 0.9).status).toBe('met');
    const short = judge(spec('get_throughput'), 0.72);
    expect(short.status).toBe('missed');
    expect(short.margin).toBe('20% short');
    expect(short.score).toBeCloseTo(0.8);
    expect(judge(spec('post100_throughput'), 0.66).margin).toBe('met, 10% above');
  });

  it('an at-most bound: over by a share, or by a factor when far over', () => {
    expect(judge(spec('rss_cached'), 150).status).toBe('met');
    expect(judge(spec('rss_cached'), 180).margin).toBe('20% over');
    expect(judge(spec('redis_bytes'), 3568).margin).toBe('2.3× the target');
    expect(judge(spec('get_p99'), 1.2).margin).toBe('met, 20% below');
  });

  it('zero stalls and an exact count have no bar score', () => {
    const none = judge(spec('no_stalls'), 0);
    expect(none.status).toBe('met');
    expect(none.score).toBeUndefined();
    expect(judge(spec('no_stalls'), 23).margin).toBe('23 over');
    expect(judge(spec('stampede_exact'), 100).margin).toBe('exact');
    expect(judge(spec('stampede_exact'), 104)).toMatchObject({ status: 'missed', margin: '+4' });
  });

  it('a scenario that did not run is "not measured", never met', () => {
    const v = judge(spec('refresh_rate'), undefined);
    expect(v.status).toBe('not measured');
    expect(judge(spec('refresh_rate'), NaN).status).toBe('not measured');
  });

  it('judges every target in order, restating a scaled one', () => {
    const all = judgeAll({ stampede_exact: { value: 10, target: 10 }, refresh_rate: { value: 1200 } });
    expect(all.map((v) => v.id)).toEqual(TARGETS.map((t) => t.id));
    expect(all.find((v) => v.id === 'stampede_exact')).toMatchObject({ status: 'met', target: 10 });
    expect(all.find((v) => v.id === 'refresh_rate')!.status).toBe('met');
    expect(all.filter((v) => v.status === 'not measured')).toHaveLength(TARGETS.length - 2);
  });

  it('formats targets for a reader', () => {
    expect(formatTarget(spec('get_throughput'))).toBe('≥ 0.90×');
    expect(formatTarget(spec('redis_bytes'))).toBe('≤ 1,536 B');
    expect(formatTarget(spec('stampede_exact'))).toBe('= 100');
    expect(formatTarget(spec('no_stalls'))).toBe('≤ 0');
  });
});
