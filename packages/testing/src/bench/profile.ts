/**
 * A short summary of a V8 .cpuprofile (from `node --cpu-prof`) over chosen time windows (the
 * measured runs of one scenario): where a server's time went per request, by area (package or
 * Node internals), under a few libraries of interest, and by function. Profile timestamps and
 * process.hrtime() share the monotonic clock, so the bench's run windows select the samples.
 */
import fs from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  name: string;
  /** Microseconds per request answered in the windows. */
  usPerRequest: number;
  /** Percent of busy (not idle) time. */
  percent: number;
}

export interface ProfileSummary {
  file: string;
  /** The process profiled (its label: all, api1, worker, baseline, ...). */
  process: string;
  scenario: string;
  requests: number;
  busyUsPerRequest: number;
  idlePercent: number;
  byArea: ProfileShare[];
  inclusive: ProfileShare[];
  topFunctions: ProfileShare[];
}

/** Where a script lives: a package of ours, an npm package, Node itself, or V8's pseudo-frames. */
function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native: syscalls, V8 builtins)';
  if (url.startsWith('node:')) {
    const parts = url.slice(5).split('/');
    return `node:${parts[0] === 'internal' ? parts.slice(0, 2).join('/') : parts[0]}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const pkg = /\/packages\/([^/]+)\//.exec(url);
  return pkg ? `@matrix-notary/${pkg[1]}` : url;
}

function frameName(frame: CallFrame): string {
  const where = frame.url ? ` ${path.basename(frame.url)}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${where} [${areaOf(frame)}]`;
}

/** Whole stacks (inclusive time) under these: our hot path's libraries and the usual suspects. */
const INCLUSIVE_OF: Array<{ label: string; test: (f: CallFrame) => boolean }> = [
  { label: 'ioredis (client side of the Redis round trip)', test: (f) => f.url.includes('/node_modules/ioredis/') },
  { label: 'prom-client (metrics)', test: (f) => f.url.includes('/node_modules/prom-client/') },
  { label: 'express', test: (f) => f.url.includes('/node_modules/express/') || f.url.includes('/node_modules/router/') },
  { label: 'pino (logging)', test: (f) => f.url.includes('/node_modules/pino') },
  { label: 'bullmq', test: (f) => f.url.includes('/node_modules/bullmq/') },
  { label: 'writev / write syscalls', test: (f) => f.url === '' && (f.functionName === 'writev' || f.functionName === 'writeUtf8String' || f.functionName === 'writeBuffer') },
];

export function summarizeCpuProfile(
  file: string,
  processLabel: string,
  scenario: string,
  windows: ReadonlyArray<{ startUs: number; endUs: number }>,
  requests: number,
  top = 10,
): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const inWindow = (ts: number) => windows.some((w) => ts >= w.startUs && ts < w.endUs);
  const selfUs = new Map<number, number>();
  let ts = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    ts += delta;
    if (!inWindow(ts)) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }

  let idleUs = 0;
  let busyUs = 0;
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  const inclusiveUs = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    busyUs += us;
    const name = frameName(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const hit = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      for (const { label, test } of INCLUSIVE_OF) if (test(f)) hit.add(label);
    }
    for (const label of hit) inclusiveUs.set(label, (inclusiveUs.get(label) ?? 0) + us);
  }
  const perRequest = (us: number) => (requests > 0 ? Math.round((us / requests) * 10) / 10 : 0);
  const shares = (m: Map<string, number>, n: number): ProfileShare[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, usPerRequest: perRequest(us), percent: busyUs > 0 ? Math.round((1000 * us) / busyUs) / 10 : 0 }));
  return {
    file,
    process: processLabel,
    scenario,
    requests,
    busyUsPerRequest: perRequest(busyUs),
    idlePercent: busyUs + idleUs > 0 ? Math.round((100 * idleUs) / (busyUs + idleUs)) : 0,
    byArea: shares(byArea, top),
    inclusive: shares(inclusiveUs, INCLUSIVE_OF.length),
    topFunctions: shares(byFunction, top),
  };
}

export function formatProfileSummary(who: string, s: ProfileSummary, cwd = process.cwd()): string {
  const lines: string[] = [];
  lines.push(`${who} profile during "${s.scenario}" (${s.requests.toLocaleString('en-US')} units of work): ${s.busyUsPerRequest} µs busy per unit, ${s.idlePercent}% idle`);
  lines.push(`  ${path.relative(cwd, s.file) || s.file}`);
  const block = (title: string, rows: ProfileShare[]) => {
    lines.push(`  ${title}`);
    for (const r of rows) lines.push(`    ${r.usPerRequest.toFixed(1).padStart(6)} µs/unit ${r.percent.toFixed(1).padStart(5)}%  ${r.name}`);
  };
  block('self time by area:', s.byArea);
  block('inclusive time under:', s.inclusive);
  block('top functions by self time:', s.topFunctions);
  return lines.join('\n');
}
