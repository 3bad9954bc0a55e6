/** The run's figures on the terminal (pure): the verdicts first, then each scenario's table. */
import { formatProfileSummary } from './profile';
import { loadgenTable, latencyTable, memoryTable, notaryRunsTable, refreshTable, stampedeTable, throughputTable, verdictTable } from './report-tables';
import type { BenchResults } from './results';
import { textTable, type Table } from './table';

export function renderConsole(r: BenchResults): string {
  const out: string[] = [];
  const section = (title: string, t: Table | undefined) => {
    if (!t) return;
    out.push(title, textTable(t), '');
  };
  section(`targets (issue 13, item 2), ${r.startedAt}:`, verdictTable(r));
  section(`throughput: notary against a bare node:http server sending the same bytes (${r.loadGenerator}):`, throughputTable(r));
  section('latency under load, all rounds pooled:', latencyTable(r));
  section('each notary run, with what the notary process and Redis went through meanwhile:', notaryRunsTable(r));
  section('stampede:', stampedeTable(r));
  section('refresh throughput:', refreshTable(r));
  section('memory:', memoryTable(r));
  section('load generators (the same bare server, same connections):', loadgenTable(r));
  for (const p of r.profiles) out.push(formatProfileSummary(p.process, p), '');
  out.push(`machine: ${r.machine.before.cpus} cores; load before: ${r.machine.before.uptime}`);
  out.push(`         load after:  ${r.machine.after.uptime}`);
  out.push(`wall time: ${r.wallSeconds} s`);
  return out.join('\n');
}
