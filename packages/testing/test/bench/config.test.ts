import { BenchConfigError, configWarnings, readBenchConfig, SCENARIOS } from '../../src/bench/config';
import { parseGcLine, GcLog } from '../../src/bench/gc-trace';
import { roleEnv } from '../../src/bench/notary-env';
import { formatPlan, planRun } from '../../src/bench/plan';

describe('bench settings', () => {
  it('defaults to the whole suite as the issue asks for it', () => {
    const c = readBenchConfig({});
    expect(c.scenarios).toEqual([...SCENARIOS]);
    expect(c).toMatchObject({ stampedeQueries: 1000, stampedeOrigins: 100, originLatencyMs: 50, memoryServers: 100_000, connections: 50 });
    expect(configWarnings(c)).toEqual([]);
  });

  it('refuses values out of bounds or unknown scenarios, naming the variable', () => {
    expect(() => readBenchConfig({ BENCH_SECONDS: '600' })).toThrow(/BENCH_SECONDS must be a whole number from 1 to 120/);
    expect(() => readBenchConfig({ BENCH_ROUNDS: '2.5' })).toThrow(BenchConfigError);
    expect(() => readBenchConfig({ BENCH_CPU_PROF: 'maybe' })).toThrow(/BENCH_CPU_PROF/);
    expect(() => readBenchConfig({ BENCH_SCENARIOS: 'throughput,speed' })).toThrow(/"speed"/);
  });

  it('runs a subset in the suite\'s order, and says when a run answers less than the issue asks', () => {
    const c = readBenchConfig({ BENCH_SCENARIOS: 'memory, throughput', BENCH_ROUNDS: '1', BENCH_MEMORY_SERVERS: '5000' });
    expect(c.scenarios).toEqual(['throughput', 'memory']);
    expect(configWarnings(c).join('\n')).toMatch(/5 latency runs[\s\S]*5,000 servers/);
  });
});

describe('the plan', () => {
  it('expects the default suite to end well within 10 minutes', () => {
    const plan = planRun(readBenchConfig({}));
    expect(plan.expectedS).toBeLessThan(9 * 60);
    expect(plan.steps.map((s) => s.scenario)).toEqual(expect.arrayContaining(['loadgen', 'throughput', 'refresh', 'stampede', 'memory']));
    expect(plan.maxS).toBeGreaterThanOrEqual(plan.expectedS);
  });

  it('leaves out what is not run, and prints the expected duration first', () => {
    const c = readBenchConfig({ BENCH_SCENARIOS: 'stampede' });
    const plan = planRun(c);
    expect(plan.steps.some((s) => s.scenario === 'throughput')).toBe(false);
    expect(formatPlan(plan, c)).toMatch(/expected duration ~\d+ s/);
  });
});

describe('--trace-gc lines', () => {
  const markCompact = '[4242:0x6a3c2a0]    15337 ms: Mark-Compact 61.2 (80.1) -> 40.3 (79.9) MB, pooled: 0 MB, 35.17 / 0.00 ms  (+ 2.1 ms in 4 steps since start of marking, biggest step 1.0 ms) (average mu = 0.9) finalize incremental marking via task; GC in old space requested';
  const scavenge = '[4242:0x6a3c2a0]      812 ms: Scavenge 9.8 (12.3) -> 8.9 (13.1) MB, 1.25 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure;';

  it('reads the kind and the pause', () => {
    expect(parseGcLine(markCompact)).toEqual({ kind: 'Mark-Compact', pauseMs: 35.17 });
    expect(parseGcLine(scavenge)).toEqual({ kind: 'Scavenge', pauseMs: 1.25 });
    expect(parseGcLine('{"level":"info","msg":"api listening"}')).toBeUndefined();
  });

  it('keeps the long pauses by when they were seen', () => {
    const log = new GcLog();
    log.line('all', scavenge, 1000);
    log.line('all', markCompact, 2000);
    log.line('api1', markCompact, 2500);
    expect(log.between(1500, 3000, 'all')).toEqual([{ label: 'all', seenAtMs: 2000, kind: 'Mark-Compact', pauseMs: 35.17 }]);
    expect(log.between(0, 1500)).toEqual([]);
    expect(log.seen.get('all')).toBe(2);
  });
});

describe('the notary\'s environment', () => {
  it('points every role at the bench\'s parts and lets nothing of the parent\'s NOTARY_/REDIS_ settings in', () => {
    const env = roleEnv(
      { PATH: '/bin', NOTARY_FETCH_WAIT_MS: '1', REDIS_SENTINELS: 'x:1', NODE_OPTIONS: '--inspect' },
      { redisUrl: 'redis://127.0.0.1:7000', prefix: 'p', serverName: 'notary.bench.test', signingKeyFile: '/k', signerToken: 't', caFile: '/ca', dnsServers: '127.0.0.1:53', signerUrl: 'http://127.0.0.1:9' },
      { port: 8000, metricsPort: 9000 },
    );
    expect(env.PATH).toBe('/bin');
    expect(env.NOTARY_FETCH_WAIT_MS).toBeUndefined();
    expect(env.REDIS_SENTINELS).toBeUndefined();
    expect(env.NODE_OPTIONS).toBeUndefined();
    expect(env).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:7000',
      NOTARY_PORT: '8000',
      NOTARY_METRICS_PORT: '9000',
      NOTARY_BIND: '127.0.0.1',
      NOTARY_DNS_SERVERS: '127.0.0.1:53',
      NOTARY_SIGNER_URL: 'http://127.0.0.1:9',
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    });
  });
});
