/**
 * The benchmark's child processes: a private redis-server, the notary's roles as a user runs them
 * (`matrix-notary all|api|worker|signer`), and the bare node:http baseline. Each start function
 * waits until its child answers, and registers how to stop it with the cleanup.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freeLoopbackPort, redisAnswers } from '@matrix-notary/common';
import type { Cleanup } from './cleanup';
import { BenchFailure } from './errors';
import { setTimeout as sleep } from 'node:timers/promises';

const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_BYTES = 16 * 1024;

/** Keeps the last few KB a child wrote, for error messages; passes each line to `onLine` too. */
class OutputTail {
  private text = '';
  private partial = '';
  constructor(private readonly onLine?: (line: string) => void) {}
  attach(stream: NodeJS.ReadableStream | null): void {
    stream?.on('data', (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      this.text = (this.text + s).slice(-LOG_TAIL_BYTES);
      if (!this.onLine) return;
      const lines = (this.partial + s).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) this.onLine(line);
    });
  }
  toString(): string {
    return this.text.trim();
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after a grace period; resolves when the child is gone. */
export async function stopChild(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

export interface Spawned {
  label: string;
  child: ChildProcess;
  pid: number;
  /** What it wrote to stdout and stderr lately. */
  output(): string;
  stop(): Promise<void>;
}

/** Spawns a child that the cleanup stops; rejects with `hint` when the command does not exist. */
async function spawnTracked(
  label: string,
  command: string,
  args: string[],
  options: SpawnOptions,
  cleanup: Cleanup,
  hint: string,
  onLine?: (line: string) => void,
): Promise<Spawned> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  cleanup.child(child);
  const tail = new OutputTail(onLine);
  tail.attach(child.stdout);
  tail.attach(child.stderr);
  const stop = () => stopChild(child);
  cleanup.add(`stop ${label}`, stop);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(new BenchFailure(err.code === 'ENOENT' ? `${label} could not be started: ${hint}` : `${label} could not be started: ${err.message}`));
    });
  });
  return { label, child, pid: child.pid!, output: () => tail.toString(), stop };
}

/** Polls `ready` until it is true, failing when the child exits or the time is up. */
async function waitReady(s: Spawned, what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await ready())) {
    if (exited(s.child)) throw new BenchFailure(`${what} exited at start (code ${s.child.exitCode}, signal ${s.child.signalCode}):\n${s.output()}`);
    if (Date.now() > deadline) throw new BenchFailure(`${what} was not ready within ${START_TIMEOUT_MS} ms:\n${s.output()}`);
    await sleep(100);
  }
}

export interface RedisChild extends Spawned {
  url: string;
  port: number;
}

/** Redis logs commands slower than this (SLOWLOG) and latency events above it (LATENCY). */
export const REDIS_SLOW_MS = 5;

/** A private, memory-only redis-server on a free loopback port, watching for its own slow moments. */
export async function startRedis(dir: string, cleanup: Cleanup): Promise<RedisChild> {
  const port = await freeLoopbackPort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
    '--latency-monitor-threshold', String(REDIS_SLOW_MS), '--slowlog-log-slower-than', String(REDIS_SLOW_MS * 1000),
    '--slowlog-max-len', '1024',
  ];
  const s = await spawnTracked('redis-server', 'redis-server', args, {}, cleanup, 'install it (apt-get install redis-server)');
  await waitReady(s, 'redis-server', () => redisAnswers('127.0.0.1', port, 500));
  return { ...s, url: `redis://127.0.0.1:${port}`, port };
}

function httpStatus(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export type NotaryRole = 'all' | 'api' | 'worker' | 'signer';

export interface RoleChild extends Spawned {
  role: NotaryRole;
  /** Public api port (all, api). */
  port?: number;
  metricsPort: number;
}

export interface RoleOptions {
  repoRoot: string;
  /** Working directory (the embedded default would write ./data here). */
  cwd: string;
  env: NodeJS.ProcessEnv;
  port?: number;
  metricsPort: number;
  /** Extra node options, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Every line the role writes (e.g. for --trace-gc). */
  onLine?: (line: string) => void;
}

/**
 * `node packages/cli/bin/matrix-notary.js <role>`, waited for until it answers: the api's
 * readiness endpoint for all/api, the metrics listener (opened last at start) for worker/signer.
 */
export async function startRole(role: NotaryRole, label: string, opts: RoleOptions, cleanup: Cleanup): Promise<RoleChild> {
  const bin = path.join(opts.repoRoot, 'packages/cli/bin/matrix-notary.js');
  if (!fs.existsSync(bin)) throw new BenchFailure(`${bin} is missing: run the benchmark from the repository root with \`npm run bench\``);
  const s = await spawnTracked(label, process.execPath, [...(opts.nodeArgs ?? []), bin, role], { cwd: opts.cwd, env: opts.env }, cleanup, `${process.execPath} was not found`, opts.onLine);
  const ready = role === 'all' || role === 'api'
    ? async () => (await httpStatus(opts.port!, '/_notary/health/ready')) === 200
    : async () => (await httpStatus(opts.metricsPort, '/metrics')) === 200;
  await waitReady(s, label, ready);
  return { ...s, role, port: opts.port, metricsPort: opts.metricsPort };
}

export interface BaselineChild extends Spawned {
  port: number;
}

/** The bare node:http server (baseline-server.js beside this file) answering the routes in routesFile. */
export async function startBaseline(routesFile: string, cleanup: Cleanup, nodeArgs: string[] = []): Promise<BaselineChild> {
  const port = await freeLoopbackPort();
  const script = path.join(__dirname, 'baseline-server.js');
  const s = await spawnTracked('the baseline server', process.execPath, [...nodeArgs, script, String(port), routesFile], {}, cleanup, `${process.execPath} was not found`);
  await waitReady(s, 'the baseline server', async () => (await httpStatus(port, '/_baseline/ready')) === 204);
  return { ...s, port };
}
