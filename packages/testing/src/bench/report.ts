/** Aggregating runs per scenario, the printed table, and the JSON written to .bench/. */
import { MicrosHistogram, type RunResult } from './load';

export interface ScenarioSummary {
  name: string;
  runs: number;
  durationS: number;
  requests: number;
  requestsPerS: number;
  /** requestsPerS / the baseline's, for notary scenarios. */
  ratioToBaseline?: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  bytesPerResponse: number;
  /** CPU microseconds per request, per process label. */
  cpuUsPerRequest: Record<string, number>;
  /** Average CPU use during the runs, percent of one core, per process label. */
  cpuPercent: Record<string, number>;
}

export function summarize(name: string, runs: RunResult[], histograms: MicrosHistogram[]): ScenarioSummary {
  const merged = new MicrosHistogram();
  for (const h of histograms) merged.add(h);
  const sum = (f: (r: RunResult) => number) => runs.reduce((acc, r) => acc + f(r), 0);
  const durationS = sum((r) => r.durationS);
  const requests = sum((r) => r.requests);
  const cpuS: Record<string, number> = {};
  for (const r of runs) for (const [label, s] of Object.entries(r.cpuS)) cpuS[label] = (cpuS[label] ?? 0) + s;
  const cpuUsPerRequest: Record<string, number> = {};
  const cpuPercent: Record<string, number> = {};
  for (const [label, s] of Object.entries(cpuS)) {
    cpuUsPerRequest[label] = requests > 0 ? Math.round((s * 1e6) / requests) : 0;
    cpuPercent[label] = durationS > 0 ? Math.round((s / durationS) * 100) : 0;
  }
  return {
    name,
    runs: runs.length,
    durationS: Math.round(durationS * 100) / 100,
    requests,
    requestsPerS: durationS > 0 ? Math.round(requests / durationS) : 0,
    latencyMs: {
      p50: merged.percentileMs(50),
      p90: merged.percentileMs(90),
      p99: merged.percentileMs(99),
      max: merged.maxUs / 1000,
    },
    errors: sum((r) => r.errors),
    timeouts: sum((r) => r.timeouts),
    non2xx: sum((r) => r.non2xx),
    mismatches: sum((r) => r.mismatches),
    bytesPerResponse: runs[0]?.bytesPerResponse ?? 0,
    cpuUsPerRequest,
    cpuPercent,
  };
}

function pad(text: string, width: number, right = true): string {
  return right ? text.padStart(width) : text.padEnd(width);
}

function cpuCell(s: ScenarioSummary, label: string): string {
  const us = s.cpuUsPerRequest[label];
  const pct = s.cpuPercent[label];
  return us === undefined ? '-' : `${us} µs ${pct}%`;
}

export function formatTable(scenarios: ScenarioSummary[]): string {
  const header = ['scenario', 'req/s', 'x base', 'p50 ms', 'p99 ms', 'max ms', 'err', 'non2xx', 'bad body', 'B/resp', 'server cpu/req', 'redis cpu/req', 'loadgen cpu/req', 'other load'];
  const rows = scenarios.map((s) => [
    s.name,
    s.requestsPerS.toLocaleString('en-US'),
    s.ratioToBaseline === undefined ? '-' : `${s.ratioToBaseline.toFixed(2)}x`,
    s.latencyMs.p50.toFixed(2),
    s.latencyMs.p99.toFixed(2),
    s.latencyMs.max.toFixed(1),
    String(s.errors + s.timeouts),
    String(s.non2xx),
    String(s.mismatches),
    String(s.bytesPerResponse),
    cpuCell(s, 'server'),
    cpuCell(s, 'redis'),
    cpuCell(s, 'loadgen'),
    s.cpuPercent.other === undefined ? '-' : `${s.cpuPercent.other}%`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i], i > 0)).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `baselineOf` names the scenario each one is compared with (undefined for the baselines themselves). */
export function formatRounds(runs: RunResult[], baselineOf: (name: string) => string | undefined): string {
  const rounds = [...new Set(runs.map((r) => r.round))].sort((a, b) => a - b);
  return rounds
    .map((round) => {
      const inRound = runs.filter((r) => r.round === round);
      const cells = inRound.map((r) => {
        const baseName = baselineOf(r.name);
        const base = baseName === undefined ? undefined : inRound.find((b) => b.name === baseName);
        const ratio = base ? ` (${(r.requestsPerS / base.requestsPerS).toFixed(2)}x)` : '';
        return `${r.name} ${Math.round(r.requestsPerS).toLocaleString('en-US')}${ratio}`;
      });
      return `  round ${round}: ${cells.join(' | ')}`;
    })
    .join('\n');
}
