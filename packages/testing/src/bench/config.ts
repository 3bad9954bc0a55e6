/**
 * The benchmark's settings, from BENCH_* environment variables, each bounded so a typo cannot
 * start an hour-long run or a load nobody meant. The defaults are the suite as the issue asks
 * for it, sized to end within 10 minutes on a 2-core machine.
 */

export const SCENARIOS = ['loadgen', 'throughput', 'refresh', 'stampede', 'memory'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

/** The throughput pairs, each the notary against the bare server doing the same. */
export const PAIRS = ['get_query', 'get_server', 'post_1', 'post_10', 'post_100'] as const;
export type PairId = (typeof PAIRS)[number];

export interface BenchConfig {
  /** Measured seconds per throughput run. */
  seconds: number;
  /** Times each throughput pair is measured (notary and baseline side by side, alternating). */
  rounds: number;
  connections: number;
  /** Unmeasured seconds per throughput target before the first round (JIT, pools). */
  warmupSeconds: number;
  /** Seconds per run of the load-generator check (wrk against autocannon on the baseline). */
  loadgenCheckSeconds: number;
  stampedeQueries: number;
  stampedeOrigins: number;
  /** The fixed latency of every stampede origin. */
  originLatencyMs: number;
  /** Origins refreshed in each refresh-throughput run. */
  refreshOrigins: number;
  /** Distinct servers (cached, then unknown) queried in the memory scenario. */
  memoryServers: number;
  scenarios: ScenarioName[];
  /** Throughput pairs measured (all by default; fewer to hunt a stall in one of them). */
  pairs: PairId[];
  /** Run the notary under `node --cpu-prof` and summarise where its time went. */
  cpuProfile: boolean;
  /** Run the notary under `node --trace-gc` and list its longest pauses per run. */
  traceGc: boolean;
}

export class BenchConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchConfigError';
  }
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new BenchConfigError(`${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  }
  return n;
}

function flag(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new BenchConfigError(`${name} must be 1/true/yes or 0/false/no; got ${JSON.stringify(env[name])}`);
}

/** A comma-separated subset of `all`, kept in the order of `all`. */
function subset<T extends string>(env: Env, name: string, all: readonly T[]): T[] {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return [...all];
  const names = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const n of names) {
    if (!(all as readonly string[]).includes(n)) throw new BenchConfigError(`${name} lists "${n}"; the choices are ${all.join(', ')}`);
  }
  return all.filter((s) => names.includes(s));
}

/** A memory flood (cached or unknown servers) stops asking after this long, and reports what it asked. */
export const MEMORY_FLOOD_MAX_S = 120;

/** Notary runs wanted for the latency figures (each throughput run of the notary is one). */
export const MIN_LATENCY_RUNS = 10;

export function readBenchConfig(env: Env): BenchConfig {
  const seconds = integer(env, 'BENCH_SECONDS', 5, 1, 120);
  const rounds = integer(env, 'BENCH_ROUNDS', 3, 1, 20);
  return {
    seconds,
    rounds,
    connections: integer(env, 'BENCH_CONNECTIONS', 50, 1, 1000),
    warmupSeconds: integer(env, 'BENCH_WARMUP_SECONDS', Math.min(1, seconds), 0, 30),
    loadgenCheckSeconds: integer(env, 'BENCH_LOADGEN_CHECK_SECONDS', 2, 0, 30),
    stampedeQueries: integer(env, 'BENCH_STAMPEDE_QUERIES', 1000, 1, 5000),
    stampedeOrigins: integer(env, 'BENCH_STAMPEDE_ORIGINS', 100, 1, 1000),
    originLatencyMs: integer(env, 'BENCH_ORIGIN_LATENCY_MS', 50, 0, 5000),
    refreshOrigins: integer(env, 'BENCH_REFRESH_ORIGINS', 3000, 10, 10_000),
    memoryServers: integer(env, 'BENCH_MEMORY_SERVERS', 100_000, 100, 1_000_000),
    scenarios: subset(env, 'BENCH_SCENARIOS', SCENARIOS),
    pairs: subset(env, 'BENCH_PAIRS', PAIRS),
    cpuProfile: flag(env, 'BENCH_CPU_PROF'),
    traceGc: flag(env, 'BENCH_TRACE_GC'),
  };
}

/** Warnings about settings that make the run answer less than the issue asks (not errors: short runs are for development). */
export function configWarnings(c: BenchConfig): string[] {
  const out: string[] = [];
  if (c.scenarios.includes('throughput') && c.rounds * c.pairs.length < MIN_LATENCY_RUNS) {
    out.push(`${c.rounds} round(s) of ${c.pairs.length} pair(s) give ${c.rounds * c.pairs.length} latency runs of the notary; the issue asks for at least ${MIN_LATENCY_RUNS}`);
  }
  if (c.stampedeQueries !== 1000 || c.stampedeOrigins !== 100) out.push(`the stampede is ${c.stampedeQueries} queries over ${c.stampedeOrigins} origins, not the issue's 1,000 over 100`);
  if (c.memoryServers !== 100_000) out.push(`the memory scenario queries ${c.memoryServers.toLocaleString('en-US')} servers, not the issue's 100,000`);
  return out;
}
