/**
 * With BENCH_CPU_PROF=1 each notary process writes a .cpuprofile when it exits; this picks, for
 * each process, the windows of the scenarios it served and summarises its time per unit of work
 * there (per request, per refresh, per server asked).
 */
import fs from 'node:fs';
import path from 'node:path';
import { summarizeCpuProfile, type ProfileSummary } from './profile';
import type { ScenarioResults } from './results';

interface Window {
  startUs: number;
  endUs: number;
}

function profileOf(root: string, label: string): string | undefined {
  const dir = path.join(root, label);
  if (!fs.existsSync(dir)) return undefined;
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  return files.length > 0 ? path.join(dir, files[files.length - 1]) : undefined;
}

export function summarizeProfiles(root: string, s: Partial<ScenarioResults>): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  const add = (label: string, scenario: string, windows: Window[], units: number) => {
    const file = profileOf(root, label);
    if (file && windows.length > 0 && units > 0) out.push(summarizeCpuProfile(file, label, scenario, windows, units));
  };
  for (const p of s.throughput?.pairs ?? []) {
    for (const side of ['notary', 'baseline'] as const) {
      const runs = s.throughput!.runs.filter((r) => r.pair === p.id && r.side === side);
      add(side === 'notary' ? 'all' : 'baseline', `${p.label} (${side})`, runs, runs.reduce((a, r) => a + r.requests, 0));
    }
  }
  const r = s.refreshInProcess;
  if (r) add('all', `refresh, ${r.label}`, [r], r.finished);
  const h = s.refreshOverHttp;
  if (h) for (const label of ['worker', 'signer']) add(label, `refresh, ${h.label}`, [h], h.finished);
  const st = s.stampede;
  if (st) for (const label of ['api1', 'api2', 'worker']) add(label, 'stampede', [st], st.queries);
  const m = s.memory;
  if (m?.cachedFlood) add('api1', 'memory: cached servers queried (per server)', [m.cachedFlood], m.cachedFlood.servers);
  if (m?.unknownFlood) {
    add('api1', 'memory: unknown servers queried (per server)', [m.unknownFlood], m.unknownFlood.servers);
    add('worker', 'memory: unknown servers queried (per server)', [m.unknownFlood], m.unknownFlood.servers);
  }
  return out;
}
