/**
 * The machine the bench runs on: the tools it needs (installed with apt-get when missing and
 * allowed, as CI does for every tool), and the facts that say how far to trust a measurement
 * (cores, load average before and after: other people's work shares the cores).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import os from 'node:os';
import { BenchFailure } from './errors';
import { wrkVersion } from './load';

const TOOLS: ReadonlyArray<{ command: string; aptPackage: string }> = [
  { command: 'wrk', aptPackage: 'wrk' },
  { command: 'redis-server', aptPackage: 'redis-server' },
];

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

export interface ToolVersions {
  node: string;
  wrk?: string;
  redis?: string;
}

/** Installs missing tools with apt-get when running as root, else says what to install. */
export function ensureTools(say: (line: string) => void): ToolVersions {
  const missing = TOOLS.filter((t) => !onPath(t.command));
  if (missing.length > 0) {
    const packages = missing.map((t) => t.aptPackage);
    if (process.getuid?.() !== 0 || !onPath('apt-get')) {
      throw new BenchFailure(`the benchmark needs ${missing.map((t) => t.command).join(' and ')}: apt-get install ${packages.join(' ')}`);
    }
    say(`installing ${packages.join(', ')} with apt-get`);
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  }
  let redis: string | undefined;
  try {
    redis = execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).trim().split(' ').find((w) => w.startsWith('v='))?.slice(2);
  } catch {
    redis = undefined;
  }
  return { node: process.version, wrk: wrkVersion(), redis };
}

export interface MachineFacts {
  at: string;
  cpus: number;
  cpuModel?: string;
  memoryMB: number;
  /** 1, 5 and 15 minute load averages (runnable tasks; 2 cores are full at 2). */
  loadAverage: number[];
  /** `uptime` as a person would read it. */
  uptime: string;
}

export function machineFacts(): MachineFacts {
  let uptime: string;
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    uptime = `load average: ${os.loadavg().map((n) => n.toFixed(2)).join(', ')}`;
  }
  return {
    at: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memoryMB: Math.round(os.totalmem() / 1024 / 1024),
    loadAverage: os.loadavg().map((n) => Math.round(n * 100) / 100),
    uptime,
  };
}

/** The 1-minute load average every few seconds while the bench runs. */
export class LoadSampler {
  readonly samples: Array<{ atS: number; load1: number }> = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = Date.now();

  constructor(everyMs = 15_000) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
  }

  private sample(): void {
    this.samples.push({ atS: Math.round((Date.now() - this.t0) / 1000), load1: Math.round(os.loadavg()[0] * 100) / 100 });
  }

  stop(): Array<{ atS: number; load1: number }> {
    clearInterval(this.timer);
    this.sample();
    return this.samples;
  }
}
