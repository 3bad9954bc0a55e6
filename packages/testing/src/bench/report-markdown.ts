/** docs/benchmarks.md, rendered from a results file (pure). */
import { formatProfileSummary } from './profile';
import { latencyTable, loadgenTable, memoryTable, notaryRunsTable, refreshTable, stampedeTable, throughputTable, verdictTable } from './report-tables';
import type { BenchResults } from './results';
import { markdownTable, type Table } from './table';

/** A 1-minute load average above this many runnable tasks per core means others shared the machine. */
const BUSY_LOAD_PER_CORE = 0.5;

function machineLine(r: BenchResults): string {
  const m = r.machine;
  const peak = Math.max(...m.load1Samples.map((s) => s.load1), m.before.loadAverage[0], m.after.loadAverage[0]);
  const busy = peak > BUSY_LOAD_PER_CORE * m.before.cpus;
  return [
    `Machine: ${m.before.cpus} cores (${m.before.cpuModel ?? 'unknown CPU'}), ${m.before.memoryMB.toLocaleString('en-US')} MB; Node ${r.tools.node}, wrk ${r.tools.wrk ?? '?'}, Redis ${r.tools.redis ?? '?'}.`,
    `Load while it ran (\`uptime\`): before \`${m.before.uptime}\`; after \`${m.after.uptime}\`; 1-minute load average sampled every 15 s: ${m.load1Samples.map((s) => s.load1).join(', ')}.`,
    busy
      ? `**Other work shared the cores during this run (load up to ${peak} on ${m.before.cpus} cores): the figures are indicative; the ratios, measured side by side, suffer least.**`
      : 'The machine was otherwise quiet.',
  ].join('\n');
}

export function renderMarkdown(r: BenchResults, resultsFile: string): string {
  const out: string[] = [];
  const section = (title: string, intro: string, t: Table | undefined) => {
    if (!t) return;
    out.push(`## ${title}`, '', intro, '', markdownTable(t), '');
  };
  out.push(
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (packages/testing/src/bench/report-markdown.ts) with the chart beside it; run it again rather than edit this file. -->',
    '',
    '![The targets of issue 13 and the throughput of each hot path against a bare node:http server](benchmarks.svg)',
    '',
    `Run of ${r.startedAt} (wall time ${r.wallSeconds} s), commit ${r.commit ?? 'unknown'}: \`${r.command}\`. All figures: \`${resultsFile}\`.`,
    '',
    machineLine(r),
    '',
  );
  if (r.problems.length > 0) {
    out.push('**This run is not a valid measurement:**', '', ...r.problems.map((p) => `- ${p}`), '');
  }
  section('Targets', 'The targets of issue 13 (item 2). Ratios compare the notary with a bare `node:http` server measured in the same run.', verdictTable(r));
  section(
    'Throughput',
    'Each hot path of the notary (`matrix-notary all`, cache warm) against a bare `node:http` server that answers with the very bytes the notary answered ' +
      '(for a POST: after reading the same body), on the same 127.0.0.1, with the same load generator, in alternating runs (notary then bare, then bare then notary). ' +
      'Requests a second pooled over the rounds; "per round" shows the spread. CPU per request is user + system time of the server process and of Redis during the runs.',
    throughputTable(r),
  );
  section(
    'Latency under load',
    'Every throughput run is a latency run (closed loop: each connection sends its next request when the answer is in). ' +
      'Latencies are wrk\'s own, per request, at 1 µs, with wrk\'s coordinated-omission fill-in undone so single slow requests count once. ' +
      'A request slower than 10× its run\'s p99 is a stall; the baseline\'s runs are the control (a stall there is the machine or the load generator, not the notary).',
    latencyTable(r),
  );
  section(
    'Each notary run',
    'What the notary process went through during each run, from its own metrics scraped before and after: the longest event-loop delay (monitorEventLoopDelay, 10 ms resolution), ' +
      'GC time by kind and the bucket of the longest collection, and Redis\'s own SLOWLOG and LATENCY records (threshold 5 ms). "others\' CPU" is what the rest of the machine used meanwhile, in % of one core; ' +
      '"waited for CPU" is the share of the run during which some task was ready to run and had no core (Linux PSI): a crowded machine stretches every pause. ' +
      'Reading a stall: when its max is about the run\'s event-loop max, the notary process itself paused (a GC, or no core for it); when the event loop never paused that long, ' +
      'the delay was outside the notary (the kernel, the load generator, the machine), as the baseline\'s own stalls show.',
    notaryRunsTable(r),
  );
  section(
    'Stampede',
    'Many clients ask at once for servers the notary has never seen; each server is asked by several of them through both api pods (split roles). ' +
      'Every origin answers after a fixed delay; fetches are counted at the origins. Connections are opened before the queries, so the notary is timed, not TCP\'s accept queue.',
    stampedeTable(r),
  );
  section(
    'Refresh throughput',
    'Refresh jobs for thousands of first-time origins are queued while the queue is paused (through the store\'s RefreshQueue, as an api pod queues them), then the queue is resumed. ' +
      'Each origin is its own DNS name (the test DNS server) on one HTTPS server with a wildcard certificate from a test CA, answering each Host with that origin\'s own signed keys, so every refresh is a real discovery, ' +
      'TLS handshake, fetch, verification, countersignature and store. One worker process (concurrency 32); "farm" is the origins\' side.',
    refreshTable(r),
  );
  section(
    'Memory',
    'The resident memory of the api pods (split roles) idle; of pod 1 after every cached server was queried once (POSTs of 100); of pod 2 (fresh) after as many unknown servers were queried the same way ' +
      '(names the test DNS server does not know: each is queued, tried by the worker and answered without). The cached servers are stored through the store\'s own storeResponse with responses of ' +
      'the typical ~1 KB shape (one key, six retired ones, two signatures). Redis bytes are MEMORY USAGE summed over every key the storing added.',
    memoryTable(r),
  );
  section(
    'Load generator',
    'wrk and autocannon (each its own process, the same connections) load the same bare server in turn. On 2 cores the generator shares the machine with the server and Redis: ' +
      'the cheaper it is per request, the less it takes from what it measures, and the later it becomes the bottleneck (which would flatter every ratio). The suite uses wrk, 1 thread.',
    loadgenTable(r),
  );
  if (r.profiles.length > 0) {
    out.push('## CPU profiles', '', '```', ...r.profiles.map((p) => formatProfileSummary(p.process, p)), '```', '');
  }
  out.push(
    '## How to run it',
    '',
    '`npm run bench` (about ' + Math.round(r.plan.expectedS / 60) + ' minutes on 2 cores; it prints its plan first). Settings: `BENCH_SECONDS`, `BENCH_ROUNDS`, `BENCH_CONNECTIONS`, ' +
      '`BENCH_SCENARIOS` (loadgen, throughput, refresh, stampede, memory), `BENCH_MEMORY_SERVERS`, `BENCH_REFRESH_ORIGINS`, `BENCH_STAMPEDE_QUERIES`, `BENCH_STAMPEDE_ORIGINS`, ' +
      '`BENCH_ORIGIN_LATENCY_MS`, `BENCH_CPU_PROF=1` (CPU profile of every notary process, summarised per scenario), `BENCH_TRACE_GC=1` (`--trace-gc`, long pauses per run). See the README\'s Benchmarks section.',
    '',
  );
  return out.join('\n');
}
