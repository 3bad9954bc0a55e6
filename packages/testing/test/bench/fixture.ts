/** A results object as a run writes it, small, for the report and chart tests. */
import type { BenchResults } from '../../src/bench/results';
import { buildResults } from '../../src/bench/results';
import { readBenchConfig } from '../../src/bench/config';
import { planRun } from '../../src/bench/plan';
import type { ThroughputRun } from '../../src/bench/scenarios/throughput';

const machine = { at: '2026-11-29T10:00:00.000Z', cpus: 2, cpuModel: 'Test CPU', memoryMB: 4096, loadAverage: [0.2, 0.3, 0.3], uptime: '10:00:00 up 1 day, load average: 0.20, 0.30, 0.30' };

function run(pair: 'get_query' | 'post_100', side: 'notary' | 'baseline', round: number, rps: number, p99: number, stalled = 0): ThroughputRun {
  return {
    pair,
    side,
    round,
    startedAt: '2026-11-29T10:00:01.000Z',
    startUs: round * 1e6,
    endUs: round * 1e6 + 5e6,
    durationS: 5,
    requests: rps * 5,
    requestsPerS: rps,
    latencyMs: { requests: rps * 5, p50: p99 / 3, p90: p99 / 2, p99, p999: p99 * 2, max: stalled ? p99 * 40 : p99 * 3, mean: p99 / 3 },
    stall: { p99Ms: p99, thresholdMs: p99 * 10, stalled, maxMs: stalled ? p99 * 40 : p99 * 3 },
    cpuS: { server: 4, redis: 0.5, loadgen: 1, bench: 0.1, other: 0.2 },
    notary: side === 'notary' ? { eventLoopMaxMs: 12.5, gcMs: { minor: 40 }, gcCount: 30, gcLongestBucketS: '0.01', requestsOverOneSecond: 0, heapUsedMB: 40 } : undefined,
    redis: { latencyEvents: [], slowCommands: stalled ? [{ command: 'EVALSHA', ms: 6.1 }] : [] },
    problems: [],
  };
}

export function fixtureResults(overrides: { problems?: string[] } = {}): BenchResults {
  const config = readBenchConfig({});
  const side = (rps: number, p99: number) => ({
    runs: 2, requests: rps * 10, durationS: 10, requestsPerS: rps,
    latencyMs: { requests: rps * 10, p50: p99 / 3, p90: p99 / 2, p99, p999: p99 * 2, max: p99 * 3, mean: p99 / 3 },
    cpuUsPerRequest: { server: 30, redis: 2, loadgen: 7 }, cpuPercent: { server: 90, redis: 8, loadgen: 30 }, responseBytes: 622,
  });
  const results = buildResults({
    config,
    plan: planRun(config),
    started: new Date('2026-11-29T10:00:00.000Z'),
    finished: new Date('2026-11-29T10:08:00.000Z'),
    machineBefore: machine,
    machineAfter: machine,
    load1Samples: [{ atS: 0, load1: 0.2 }, { atS: 15, load1: 0.8 }],
    tools: { node: 'v20.0.0', wrk: 'wrk 4.1.0', redis: '7.0.15' },
    scenarios: {
      throughput: {
        connections: 50, secondsPerRun: 5, rounds: 2,
        bodies: { queryAnswerBytes: 446, serverAnswerBytes: 307, post100AnswerBytes: 44_600, post100RequestBytes: 9000 },
        pairs: [
          { id: 'get_query', label: 'cache-hit GET /query/{server}', notary: side(27_000, 4), baseline: side(30_000, 3), ratio: 0.9, roundRatios: [0.88, 0.92], p99Ratio: 1.33 },
          { id: 'post_100', label: 'POST /query, 100 cached servers', notary: side(3_000, 100), baseline: side(20_000, 7), ratio: 0.15, roundRatios: [0.14, 0.16], p99Ratio: 14.3 },
        ],
        runs: [run('get_query', 'notary', 1, 27_000, 4), run('get_query', 'baseline', 1, 30_000, 3), run('post_100', 'notary', 1, 3_000, 100, 3), run('post_100', 'baseline', 1, 20_000, 7)],
        originFetchesDuringLoad: 0,
        problems: [],
      },
      stampede: {
        queries: 1000, origins: 100, apiPods: 2, originLatencyMs: 50, originFetches: 100, originsFetched: 100, maxFetchesPerOrigin: 1, answered: 1000,
        latencyMs: { p50: 80, p90: 120, p99: 200, max: 250 }, p50OverOrigin: 1.6, p99OverOrigin: 4, wallMs: 260, startUs: 0, endUs: 1, failures: [],
      },
      memory: {
        servers: 100_000, typicalResponseBytes: 1030, seedSeconds: 30, idle: { pod: 'api1', rssMB: 90, heapUsedMB: 30, externalMB: 5 }, idleOther: { pod: 'api2', rssMB: 91, heapUsedMB: 30, externalMB: 5 },
        afterCached: { pod: 'api1', rssMB: 240, heapUsedMB: 60, externalMB: 150 }, afterUnknown: { pod: 'api2', rssMB: 140, heapUsedMB: 50, externalMB: 20 },
        redis: { keysPerServer: 1, bytesPerServer: 3568, usedMemoryPerServer: 3700 },
      },
    },
    profiles: [],
    repoRoot: '/nonexistent',
  });
  return { ...results, problems: overrides.problems ?? results.problems };
}
