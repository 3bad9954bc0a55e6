/**
 * The benchmark's settings, from the environment, each bounded so a typo cannot start an hour-long
 * run or a load nobody meant.
 */

export interface BenchConfig {
  /** Measured seconds per run. */
  seconds: number;
  /** How many times each scenario is measured, interleaved with the others. */
  rounds: number;
  connections: number;
  /** Unmeasured seconds per scenario before the first round (JIT, connection pools). */
  warmupSeconds: number;
  /** Run the notary child under `node --cpu-prof` and summarise where its time went. */
  cpuProfile: boolean;
}

export class BenchConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchConfigError';
  }
}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new BenchConfigError(`${name} must be a whole number from ${min} to ${max}; got ${JSON.stringify(raw)}`);
  }
  return n;
}

function flag(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new BenchConfigError(`${name} must be 1/true/yes or 0/false/no; got ${JSON.stringify(env[name])}`);
}

export const BENCH_DEFAULT_SECONDS = 10;
export const BENCH_MAX_SECONDS = 120;

export function readBenchConfig(env: NodeJS.ProcessEnv): BenchConfig {
  const seconds = integer(env, 'BENCH_SECONDS', BENCH_DEFAULT_SECONDS, 1, BENCH_MAX_SECONDS);
  return {
    seconds,
    rounds: integer(env, 'BENCH_ROUNDS', 2, 1, 10),
    connections: integer(env, 'BENCH_CONNECTIONS', 50, 1, 1000),
    warmupSeconds: integer(env, 'BENCH_WARMUP_SECONDS', Math.min(2, seconds), 0, 30),
    cpuProfile: flag(env, 'BENCH_CPU_PROF'),
  };
}
