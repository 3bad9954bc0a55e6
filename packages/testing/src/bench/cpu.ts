/**
 * CPU time from /proc: per process, for this process's reaped children (wrk, autocannon: they
 * are gone before they could be read), and for the whole machine (to see other people's load).
 * undefined where /proc is missing. USER_HZ is 100 on every Linux the project runs on.
 */
import fs from 'node:fs';

const CLOCK_TICKS_PER_S = 100;

/** Fields after the parenthesised command name of /proc/<pid>/stat (field 3 is index 0). */
function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  const t = processCpuTimes(pid);
  return t === undefined ? undefined : t.user + t.system;
}

/** CPU seconds a process has used so far in user space (JS, GC) and in the kernel (syscalls). */
export function processCpuTimes(pid: number | undefined): { user: number; system: number } | undefined {
  if (pid === undefined) return undefined;
  const f = statFields(pid);
  return f === undefined ? undefined : { user: Number(f[11]) / CLOCK_TICKS_PER_S, system: Number(f[12]) / CLOCK_TICKS_PER_S };
}

/** Seconds some task waited for a CPU (Linux pressure stall information), or undefined without PSI. */
export function cpuPressureSeconds(): number | undefined {
  try {
    const m = /^some .*total=(\d+)/m.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? Number(m[1]) / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds used by this process's children that have exited and been waited for. */
export function reapedChildrenCpuSeconds(): number | undefined {
  const f = statFields('self');
  return f === undefined ? undefined : (Number(f[13]) + Number(f[14])) / CLOCK_TICKS_PER_S;
}

/** CPU seconds the whole machine has been busy (all cores: user, nice, system, irq, softirq, steal). */
export function machineBusyCpuSeconds(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in bytes (VmRSS), from /proc/<pid>/status. */
export function residentBytes(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used between `start()` and `stop()` by each labelled process, by reaped children
 * (`loadgen`), and by everything else on the machine (`other`: what the run did not cause); the
 * kernel's share of each labelled process (`<label>.sys`); and `waitedForCpu`, the seconds some
 * task waited for a core (PSI): how crowded the machine was.
 */
export class CpuMeter {
  private before: Record<string, number | undefined> = {};

  constructor(private readonly processes: Record<string, number | undefined>) {}

  private snapshot(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const [label, pid] of Object.entries(this.processes)) {
      const t = processCpuTimes(pid);
      out[label] = t === undefined ? undefined : t.user + t.system;
      out[`${label}.sys`] = t?.system;
    }
    const self = process.cpuUsage();
    out.bench = (self.user + self.system) / 1e6;
    out.loadgen = reapedChildrenCpuSeconds();
    out.machine = machineBusyCpuSeconds();
    out.waitedForCpu = cpuPressureSeconds();
    return out;
  }

  start(): void {
    this.before = this.snapshot();
  }

  /** Seconds per label since start(); `other` = the machine's busy time not accounted for. */
  stop(): Record<string, number> {
    const after = this.snapshot();
    const used: Record<string, number> = {};
    for (const [label, end] of Object.entries(after)) {
      const begin = this.before[label];
      if (end !== undefined && begin !== undefined) used[label] = Math.max(0, end - begin);
    }
    if (used.machine !== undefined) {
      const ours = Object.entries(used)
        .filter(([l]) => l !== 'machine' && l !== 'waitedForCpu' && !l.endsWith('.sys'))
        .reduce((acc, [, s]) => acc + s, 0);
      used.other = Math.max(0, used.machine - ours);
      delete used.machine;
    }
    return used;
  }
}
