/** The figures of a results file as tables, shared by the terminal and Markdown reports (pure). */
import type { BenchResults } from './results';
import type { Table } from './table';
import { formatTarget, formatValue, type Verdict } from './targets';

const n = (x: number) => Math.round(x).toLocaleString('en-US');
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (x: number) => `${x.toFixed(2)}×`;

export function verdictWord(v: Verdict): string {
  return v.status === 'met' ? 'met' : v.status === 'missed' ? 'MISSED' : 'not measured';
}

export function verdictTable(r: BenchResults): Table {
  return {
    header: ['target', 'measured', 'target', 'verdict', 'margin', 'detail'],
    rows: r.verdicts.map((v) => [
      v.label,
      v.measured === undefined ? '-' : formatValue(v.measured, v.unit),
      formatTarget(v),
      verdictWord(v),
      v.status === 'not measured' ? '' : v.margin,
      v.note ?? '',
    ]),
    leftColumns: [0, 3, 4, 5],
  };
}

export function throughputTable(r: BenchResults): Table | undefined {
  const t = r.scenarios.throughput;
  if (!t) return undefined;
  const cpu = (c: Record<string, number>) => `${c.server ?? '?'} (${c['server.sys'] ?? '?'})`;
  return {
    header: ['scenario', 'notary req/s', 'bare req/s', 'ratio', 'per round', 'notary p99 ms', 'bare p99 ms', 'p99 ratio', 'notary CPU µs/req (kernel)', 'bare CPU µs/req (kernel)', 'Redis CPU µs/req', 'answer bytes'],
    rows: t.pairs.map((p) => [
      p.label,
      n(p.notary.requestsPerS),
      n(p.baseline.requestsPerS),
      ratio(p.ratio),
      p.roundRatios.map((x) => x.toFixed(2)).join(' '),
      ms(p.notary.latencyMs.p99),
      ms(p.baseline.latencyMs.p99),
      ratio(p.p99Ratio),
      cpu(p.notary.cpuUsPerRequest),
      cpu(p.baseline.cpuUsPerRequest),
      String(p.notary.cpuUsPerRequest.redis ?? '?'),
      n(p.notary.responseBytes),
    ]),
  };
}

export function latencyTable(r: BenchResults): Table | undefined {
  const t = r.scenarios.throughput;
  if (!t) return undefined;
  const rows: string[][] = [];
  for (const p of t.pairs) {
    for (const side of ['notary', 'baseline'] as const) {
      const runs = t.runs.filter((x) => x.pair === p.id && x.side === side);
      const s = p[side].latencyMs;
      const stalled = runs.reduce((a, x) => a + x.stall.stalled, 0);
      const withStalls = runs.filter((x) => x.stall.stalled > 0).length;
      rows.push([p.label, side === 'notary' ? 'notary' : 'bare', String(runs.length), ms(s.p50), ms(s.p99), ms(s.p999), ms(s.max), stalled === 0 ? '0' : `${stalled} in ${withStalls} run(s)`]);
    }
  }
  return { header: ['scenario', 'server', 'runs', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'requests > 10× their run\'s p99'], rows, leftColumns: [0, 1] };
}

/** One row per notary run, with what the process and Redis went through. */
export function notaryRunsTable(r: BenchResults): Table | undefined {
  const t = r.scenarios.throughput;
  if (!t) return undefined;
  const rows = t.runs
    .filter((x) => x.side === 'notary')
    .map((x) => {
      const d = x.notary;
      const gc = d ? Object.entries(d.gcMs).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ') : '';
      const slow = x.redis.slowCommands.length + x.redis.latencyEvents.length;
      const slowMax = Math.max(0, ...x.redis.slowCommands.map((c) => c.ms), ...x.redis.latencyEvents.map((e) => e.maxMs));
      return [
        t.pairs.find((p) => p.id === x.pair)?.label ?? x.pair,
        String(x.round),
        n(x.requestsPerS),
        ms(x.latencyMs.p50),
        ms(x.latencyMs.p99),
        ms(x.latencyMs.p999),
        ms(x.latencyMs.max),
        x.stall.stalled === 0 ? '0' : `${x.stall.stalled} (> ${ms(x.stall.thresholdMs)} ms)`,
        d?.eventLoopMaxMs === undefined ? '?' : ms(d.eventLoopMaxMs),
        gc,
        d?.gcLongestBucketS === undefined ? '-' : `≤ ${Number(d.gcLongestBucketS) * 1000} ms`,
        slow === 0 ? '0' : `${slow} (max ${ms(slowMax)} ms)`,
        `${Math.round(((x.cpuS.loadgen ?? 0) / x.durationS) * 100)}%`,
        `${Math.round(((x.cpuS.other ?? 0) / x.durationS) * 100)}%`,
        x.cpuS.waitedForCpu === undefined ? '?' : `${Math.round((x.cpuS.waitedForCpu / x.durationS) * 100)}%`,
      ];
    });
  return {
    header: ['scenario', 'round', 'req/s', 'p50', 'p99', 'p99.9', 'max', '> 10× p99', 'event loop max ms', 'GC ms by kind', 'longest GC', 'Redis slow', 'wrk CPU', 'others\' CPU', 'waited for CPU'],
    leftColumns: [0, 9],
    rows,
  };
}

export function stampedeTable(r: BenchResults): Table | undefined {
  const s = r.scenarios.stampede;
  if (!s) return undefined;
  return {
    header: ['stampede', 'value'],
    rows: [
      ['queries, all at once', `${n(s.queries)} over ${n(s.origins)} new origins, through ${s.apiPods} api pods`],
      ['origin fetches (counted at the origins)', `${n(s.originFetches)} (${n(s.originsFetched)} origins, at most ${s.maxFetchesPerOrigin} each)`],
      ['answered with the server\'s keys', `${n(s.answered)} of ${n(s.queries)}`],
      ['latency p50 / p90 / p99 / max', `${ms(s.latencyMs.p50)} / ${ms(s.latencyMs.p90)} / ${ms(s.latencyMs.p99)} / ${ms(s.latencyMs.max)} ms`],
      ['against the origins\' own latency', `p50 ${ratio(s.p50OverOrigin)}, p99 ${ratio(s.p99OverOrigin)} of ${s.originLatencyMs} ms`],
      ...(s.failures.length > 0 ? [['failures (sample)', s.failures.join('; ')]] : []),
    ],
    leftColumns: [0, 1],
  };
}

export function refreshTable(r: BenchResults): Table | undefined {
  const runs = [r.scenarios.refreshInProcess, r.scenarios.refreshOverHttp].filter((x) => x !== undefined);
  if (runs.length === 0) return undefined;
  const cpu = (c: Record<string, number>) =>
    Object.entries(c)
      .filter(([k, v]) => v > 0 && k !== 'bench' && k !== 'loadgen' && k !== 'waitedForCpu' && !k.endsWith('.sys'))
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return {
    leftColumns: [0, 4, 5],
    header: ['one worker', 'origins', 'seconds', 'origins/s', 'outcomes', 'CPU µs per refresh'],
    rows: runs.map((x) => [
      x.label,
      n(x.finished) + (x.completed ? '' : ` of ${n(x.origins)}`),
      x.seconds.toFixed(1),
      n(x.perSecond),
      Object.entries(x.outcomes).map(([o, c]) => `${o} ${n(c)}`).join(', '),
      cpu(x.cpuUsPerRefresh),
    ]),
  };
}

export function memoryTable(r: BenchResults): Table | undefined {
  const m = r.scenarios.memory;
  if (!m) return undefined;
  const pt = (p: typeof m.idle | undefined) =>
    p ? `${p.rssMB.toFixed(0)} MB (${p.pod}; V8 heap ${p.heapUsedMB?.toFixed(0) ?? '?'} MB, outside it ${p.externalMB?.toFixed(0) ?? '?'} MB)` : '-';
  const flood = (f: typeof m.cachedFlood) => (f ? `${n(f.servers)} servers in ${f.seconds} s (${n(f.serversPerSecond)}/s)` : '-');
  return {
    header: ['memory', 'value'],
    rows: [
      ['api RSS idle', pt(m.idle)],
      ...(m.idleOther && m.idleOther.pod !== m.idle.pod ? [['api RSS idle', pt(m.idleOther)]] : []),
      ['api RSS after the cached servers', pt(m.afterCached)],
      ['  queried', flood(m.cachedFlood)],
      ['api RSS after the unknown servers', pt(m.afterUnknown)],
      ['  queried', flood(m.unknownFlood)],
      ['Redis bytes per cached server (MEMORY USAGE)', `${n(m.redis.bytesPerServer)} B for a ${n(m.typicalResponseBytes)} B response (Redis keys per server: ${m.redis.keysPerServer})`],
      ['Redis used_memory growth per cached server', `${n(m.redis.usedMemoryPerServer)} B`],
      ...[...(m.cachedFlood?.failures ?? []), ...(m.unknownFlood?.failures ?? [])].map((f) => ['failure', f]),
    ],
    leftColumns: [0, 1],
  };
}

export function loadgenTable(r: BenchResults): Table | undefined {
  const l = r.scenarios.loadgen;
  if (!l) return undefined;
  return {
    leftColumns: [0],
    header: ['generator', 'req/s on the bare server', 'its CPU µs/request', 'share of a core', 'server CPU µs/request'],
    rows: l.generators.map((g) => [g.generator, n(g.requestsPerS), String(g.loadgenUsPerRequest), `${g.loadgenCpuPercent}%`, String(g.serverUsPerRequest)]),
  };
}
