/**
 * A short summary of a V8 .cpuprofile (from `node --cpu-prof`): where the notary's CPU time went,
 * by function (self time) and by package, so a reader sees what dominates without opening
 * DevTools. Idle time is left out of the shares.
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
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileShare {
  name: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  busyMs: number;
  idleMs: number;
  topFunctions: ProfileShare[];
  byArea: ProfileShare[];
  /** Share of busy time spent under (inclusive of) a few functions of interest. */
  inclusive: ProfileShare[];
}

/** Where a script lives: a package of ours, an npm package, Node itself, or V8's pseudo-frames. */
function areaOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native / V8)';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/').slice(0, 2).join('/') : url.slice(5)}`;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const pkg = /\/packages\/([^/]+)\//.exec(url);
  if (pkg) return `@matrix-notary/${pkg[1]}`;
  return url;
}

function frameName(frame: CallFrame): string {
  const where = frame.url ? `${path.basename(frame.url)}:${frame.lineNumber + 1}` : '';
  return `${frame.functionName || '(anonymous)'}${where ? ` ${where}` : ''} [${areaOf(frame.url, frame.functionName)}]`;
}

/** Inclusive time: whole stacks under functions whose name matches one of these (our hot path, and the usual suspects). */
const INCLUSIVE_OF: Array<{ label: string; test: (f: CallFrame) => boolean }> = [
  { label: 'prom-client (metrics)', test: (f) => f.url.includes('/node_modules/prom-client/') },
  { label: 'ioredis (client)', test: (f) => f.url.includes('/node_modules/ioredis/') },
  { label: 'pino (logging)', test: (f) => f.url.includes('/node_modules/pino') },
  { label: 'express', test: (f) => f.url.includes('/node_modules/express/') || f.url.includes('/node_modules/router/') },
  { label: 'JSON.parse / body read (POST)', test: (f) => f.functionName === 'parse' && f.url === '' },
  { label: 'garbage collector', test: (f) => f.functionName === '(garbage collector)' },
];

export function summarizeCpuProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
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
    const area = areaOf(frame.url, frame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    // Charge this sample once to each "inclusive" label found on its stack.
    const hit = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      for (const { label, test } of INCLUSIVE_OF) if (test(f)) hit.add(label);
    }
    for (const label of hit) inclusiveUs.set(label, (inclusiveUs.get(label) ?? 0) + us);
  }
  const shares = (m: Map<string, number>, n: number): ProfileShare[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), percent: busyUs > 0 ? Math.round((1000 * us) / busyUs) / 10 : 0 }));
  return {
    file,
    busyMs: Math.round(busyUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    topFunctions: shares(byFunction, top),
    byArea: shares(byArea, top),
    inclusive: shares(inclusiveUs, INCLUSIVE_OF.length),
  };
}

export function formatProfileSummary(who: string, s: ProfileSummary, cwd = process.cwd()): string {
  const lines: string[] = [];
  lines.push(`${who} CPU profile ${path.relative(cwd, s.file) || s.file} (open it in Chrome DevTools for the full tree)`);
  lines.push(`  busy ${s.busyMs} ms, idle ${s.idleMs} ms: shares are of busy time over the whole process lifetime, sampled by`);
  lines.push('  wall clock, so a syscall (writev) also carries time the process waited for a core');
  const block = (title: string, rows: ProfileShare[]) => {
    lines.push(`  ${title}`);
    for (const r of rows) lines.push(`    ${r.percent.toFixed(1).padStart(5)}%  ${String(r.ms).padStart(7)} ms  ${r.name}`);
  };
  block('self time by area (package / node internals):', s.byArea);
  block('inclusive time under:', s.inclusive);
  block('top functions by self time:', s.topFunctions);
  return lines.join('\n');
}
