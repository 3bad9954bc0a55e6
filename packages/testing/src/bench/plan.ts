/**
 * What a run will do and how long it should take, printed before it starts (pure). The rates are
 * this suite's own measurements on the 2-core machine it targets, rounded down; the hard caps
 * are what bounds a run whatever the notary does.
 */
import { MEMORY_FLOOD_MAX_S, type BenchConfig } from './config';

export interface PlanStep {
  scenario: string;
  what: string;
  expectedS: number;
  /** The most it can take (timeouts), when that differs. */
  maxS: number;
}

export interface Plan {
  steps: PlanStep[];
  expectedS: number;
  maxS: number;
}

/** Seconds to start a node process of the notary and see it ready. */
const ROLE_START_S = 2;
/** Gap between two load runs (scrapes, wrk start). */
const RUN_OVERHEAD_S = 0.8;
/** Assumed rates (per second) for the planning; the caps hold whatever the real ones are. */
export const PLAN_RATES = {
  refresh: 150,
  seed: 7_000,
  cachedFlood: 14_000,
  unknownFlood: 1_300,
};
/** The refresh runs stop after max(30 s, origins / 100). */
const refreshCapS = (origins: number) => Math.max(30, origins / 100);

export function planRun(c: BenchConfig): Plan {
  const steps: PlanStep[] = [];
  const add = (scenario: string, what: string, expectedS: number, maxS = expectedS) =>
    steps.push({ scenario, what, expectedS: Math.ceil(expectedS), maxS: Math.ceil(maxS) });
  const want = (s: BenchConfig['scenarios'][number]) => c.scenarios.includes(s);
  add('setup', 'redis-server, origin farm (signs every origin\'s keys), test CA', 5 + (2 * c.refreshOrigins) / 10_000);
  if (want('loadgen')) add('loadgen', `wrk and autocannon on the bare server, 2 × ${c.loadgenCheckSeconds} s each`, 4 * (c.loadgenCheckSeconds + 1.5) + 1);
  if (want('throughput') || want('refresh')) add('setup', 'matrix-notary all', ROLE_START_S);
  if (want('throughput')) {
    const runs = c.pairs.length * 2;
    add(
      'throughput',
      `${c.pairs.length} pairs (notary and baseline) × ${c.rounds} rounds × ${c.seconds} s, ${c.connections} connections, after ${c.warmupSeconds} s warm-up each`,
      5 + runs * (c.warmupSeconds + RUN_OVERHEAD_S) + runs * c.rounds * (c.seconds + RUN_OVERHEAD_S),
    );
  }
  if (want('refresh')) {
    for (const how of ['in-process signer', 'signer over HTTP']) {
      add('refresh', `${c.refreshOrigins.toLocaleString('en-US')} first-time origins, ${how}`, 2 + c.refreshOrigins / PLAN_RATES.refresh, 2 + refreshCapS(c.refreshOrigins));
    }
  }
  if (want('refresh') || want('stampede') || want('memory')) add('setup', 'split roles: signer, worker, api1, api2', 4 * ROLE_START_S);
  if (want('stampede')) add('stampede', `${c.stampedeQueries} queries over ${c.stampedeOrigins} new origins (${c.originLatencyMs} ms each), 2 api pods`, 3, 15);
  if (want('memory')) {
    const n = c.memoryServers;
    add('memory', `${n.toLocaleString('en-US')} cached servers stored and queried`, 3 + n / PLAN_RATES.seed + n / PLAN_RATES.cachedFlood, 3 + n / PLAN_RATES.seed + MEMORY_FLOOD_MAX_S);
    add('memory', `${n.toLocaleString('en-US')} unknown servers queried`, n / PLAN_RATES.unknownFlood, MEMORY_FLOOD_MAX_S);
  }
  add('report', 'results, docs/benchmarks.md, docs/benchmarks.svg', 2);
  return { steps, expectedS: steps.reduce((a, s) => a + s.expectedS, 0), maxS: steps.reduce((a, s) => a + s.maxS, 0) };
}

function minutes(s: number): string {
  return s < 90 ? `${Math.round(s)} s` : `${(s / 60).toFixed(1)} min`;
}

export function formatPlan(plan: Plan, c: BenchConfig): string {
  const lines = [`bench: plan (scenarios: ${c.scenarios.join(', ')}):`];
  for (const s of plan.steps) {
    lines.push(`  ${s.scenario.padEnd(10)} ${s.what} ~${minutes(s.expectedS)}${s.maxS > s.expectedS ? ` (at most ${minutes(s.maxS)})` : ''}`);
  }
  lines.push(`bench: expected duration ~${minutes(plan.expectedS)}, at most ${minutes(plan.maxS)}`);
  return lines.join('\n');
}
