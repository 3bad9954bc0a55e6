/**
 * The results of one run as written to bench/results/latest.json, and the verdicts on the
 * issue's targets drawn from them (pure). docs/benchmarks.md and the chart are rendered from this
 * object alone, so a results file can be rendered again without running anything.
 */
import { execFileSync } from 'node:child_process';
import type { BenchConfig } from './config';
import type { MachineFacts, ToolVersions } from './machine';
import type { Plan } from './plan';
import type { ProfileSummary } from './profile';
import type { LoadgenCheck } from './scenarios/loadgen';
import type { MemoryResult } from './scenarios/memory';
import type { RefreshResult } from './scenarios/refresh';
import type { StampedeResult } from './scenarios/stampede';
import type { ThroughputResult } from './scenarios/throughput';
import { judgeAll, type TargetId, type Verdict } from './targets';

export const RESULTS_VERSION = 1;

export interface ScenarioResults {
  loadgen: LoadgenCheck;
  throughput: ThroughputResult;
  refreshInProcess: RefreshResult;
  refreshOverHttp: RefreshResult;
  stampede: StampedeResult;
  memory: MemoryResult;
}

export interface LatencyRunRow {
  pair: string;
  side: string;
  round: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  stalled: number;
  thresholdMs: number;
}

export interface BenchResults {
  version: number;
  startedAt: string;
  finishedAt: string;
  wallSeconds: number;
  command: string;
  commit?: string;
  config: BenchConfig;
  plan: Plan;
  machine: { before: MachineFacts; after: MachineFacts; load1Samples: Array<{ atS: number; load1: number }> };
  tools: ToolVersions;
  loadGenerator: string;
  verdicts: Verdict[];
  scenarios: Partial<ScenarioResults>;
  profiles: ProfileSummary[];
  /** Why this run is not a valid measurement; empty when it is. */
  problems: string[];
}

/** The verdict inputs, from whatever scenarios ran. */
export function measuredTargets(s: Partial<ScenarioResults>): Parameters<typeof judgeAll>[0] {
  const m: Partial<Record<TargetId, { value: number; note?: string; target?: number }>> = {};
  const t = s.throughput;
  if (t) {
    const get = t.pairs.find((p) => p.id === 'get_query');
    const post = t.pairs.find((p) => p.id === 'post_100');
    if (get) {
      m.get_throughput = { value: get.ratio, note: `${get.notary.requestsPerS.toLocaleString('en-US')} vs ${get.baseline.requestsPerS.toLocaleString('en-US')} req/s` };
      m.get_p99 = { value: get.p99Ratio, note: `${get.notary.latencyMs.p99.toFixed(2)} vs ${get.baseline.latencyMs.p99.toFixed(2)} ms` };
    }
    if (post) m.post100_throughput = { value: post.ratio, note: `${post.notary.requestsPerS.toLocaleString('en-US')} vs ${post.baseline.requestsPerS.toLocaleString('en-US')} req/s` };
    const notaryRuns = t.runs.filter((r) => r.side === 'notary');
    const stalled = notaryRuns.reduce((a, r) => a + r.stall.stalled, 0);
    const runsWith = notaryRuns.filter((r) => r.stall.stalled > 0).length;
    m.no_stalls = { value: stalled, note: `${runsWith} of ${notaryRuns.length} notary runs` };
  }
  if (s.stampede) {
    const st = s.stampede;
    m.stampede_exact = {
      value: st.originFetches,
      target: st.origins,
      note: `${st.queries} queries, ${st.origins} origins, ${st.apiPods} api pods; ${st.answered} answered`,
    };
  }
  if (s.refreshInProcess) {
    const r = s.refreshInProcess;
    m.refresh_rate = { value: r.perSecond, note: `${r.finished.toLocaleString('en-US')} origins in ${r.seconds} s` };
  }
  const mem = s.memory;
  if (mem?.afterCached) m.rss_cached = { value: mem.afterCached.rssMB, note: `idle ${mem.idle.rssMB} MB; ${(mem.cachedFlood?.servers ?? 0).toLocaleString('en-US')} servers asked` };
  if (mem?.afterUnknown) m.rss_unknown = { value: mem.afterUnknown.rssMB, note: `idle ${(mem.idleOther ?? mem.idle).rssMB} MB; ${(mem.unknownFlood?.servers ?? 0).toLocaleString('en-US')} servers asked` };
  if (mem) m.redis_bytes = { value: mem.redis.bytesPerServer, note: `${mem.typicalResponseBytes} B responses; Redis keys per server: ${mem.redis.keysPerServer}` };
  return m;
}

export function collectProblems(s: Partial<ScenarioResults>): string[] {
  return [...(s.throughput?.problems ?? []), ...(s.refreshInProcess?.problems ?? []), ...(s.refreshOverHttp?.problems ?? [])];
}

export function latencyRows(t: ThroughputResult | undefined): LatencyRunRow[] {
  return (t?.runs ?? []).map((r) => ({
    pair: r.pair,
    side: r.side,
    round: r.round,
    p50: r.latencyMs.p50,
    p99: r.latencyMs.p99,
    p999: r.latencyMs.p999,
    max: r.latencyMs.max,
    stalled: r.stall.stalled,
    thresholdMs: r.stall.thresholdMs,
  }));
}

function gitCommit(repoRoot: string): string | undefined {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'packages'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty === '' ? head : `${head} (with uncommitted changes under packages/)`;
  } catch {
    return undefined;
  }
}

export function commandLine(c: BenchConfig): string {
  const env = [`BENCH_SECONDS=${c.seconds}`, `BENCH_ROUNDS=${c.rounds}`, `BENCH_CONNECTIONS=${c.connections}`];
  if (c.cpuProfile) env.push('BENCH_CPU_PROF=1');
  if (c.traceGc) env.push('BENCH_TRACE_GC=1');
  return `${env.join(' ')} npm run bench`;
}

export function buildResults(input: {
  config: BenchConfig;
  plan: Plan;
  started: Date;
  finished: Date;
  machineBefore: MachineFacts;
  machineAfter: MachineFacts;
  load1Samples: Array<{ atS: number; load1: number }>;
  tools: ToolVersions;
  scenarios: Partial<ScenarioResults>;
  profiles: ProfileSummary[];
  repoRoot: string;
}): BenchResults {
  return {
    version: RESULTS_VERSION,
    startedAt: input.started.toISOString(),
    finishedAt: input.finished.toISOString(),
    wallSeconds: Math.round((input.finished.getTime() - input.started.getTime()) / 1000),
    command: commandLine(input.config),
    commit: gitCommit(input.repoRoot),
    config: input.config,
    plan: input.plan,
    machine: { before: input.machineBefore, after: input.machineAfter, load1Samples: input.load1Samples },
    tools: input.tools,
    loadGenerator: `wrk ${input.tools.wrk ?? '?'}, 1 thread, ${input.config.connections} keep-alive connections, no pipelining, as a child process`,
    verdicts: judgeAll(measuredTargets(input.scenarios)),
    scenarios: input.scenarios,
    profiles: input.profiles,
    problems: collectProblems(input.scenarios),
  };
}
