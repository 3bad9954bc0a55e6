/**
 * The benchmark's child processes: a private redis-server, the notary (`matrix-notary all`, as in
 * production) and the bare node:http baseline. Each start function waits until its child answers
 * and registers how to stop it with the cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { Cleanup } from './cleanup';
import { BenchFailure } from './errors';
import { freeLoopbackPort, redisAnswers } from '@matrix-notary/cli';

const START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const LOG_TAIL_BYTES = 16 * 1024;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Keeps the last few KB a child wrote, for error messages. */
class OutputTail {
  private text = '';
  attach(stream: NodeJS.ReadableStream | null): void {
    stream?.on('data', (chunk: Buffer) => {
      this.text = (this.text + chunk.toString('utf8')).slice(-LOG_TAIL_BYTES);
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

function spawnFailure(child: ChildProcess, what: string, hint: string): Promise<never> {
  return new Promise((_resolve, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(new BenchFailure(err.code === 'ENOENT' ? `${what} could not be started: ${hint}` : `${what} could not be started: ${err.message}`));
    });
  });
}

export interface RedisChild {
  url: string;
  child: ChildProcess;
}

/** A private, memory-only redis-server on a free loopback port. */
export async function startRedis(dir: string, cleanup: Cleanup): Promise<RedisChild> {
  const port = await freeLoopbackPort();
  const child = spawn(
    'redis-server',
    [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--maxmemory-policy', 'noeviction', '--daemonize', 'no',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  cleanup.child(child);
  cleanup.add('stop redis-server', () => stopChild(child));
  const tail = new OutputTail();
  tail.attach(child.stdout);
  tail.attach(child.stderr);
  const failed = spawnFailure(child, 'redis-server', 'install it (e.g. `apt-get install redis-server`)');
  const ready = (async () => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await redisAnswers('127.0.0.1', port, 500))) {
      if (exited(child)) throw new BenchFailure(`redis-server exited at start:\n${tail}`);
      if (Date.now() > deadline) throw new BenchFailure(`redis-server did not answer PING on port ${port} within ${START_TIMEOUT_MS} ms`);
      await sleep(50);
    }
  })();
  await Promise.race([ready, failed]);
  return { url: `redis://127.0.0.1:${port}`, child };
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

export interface NotaryChild {
  port: number;
  child: ChildProcess;
  /** What it wrote to stdout and stderr lately. */
  output(): string;
}

export interface NotaryOptions {
  repoRoot: string;
  redisUrl: string;
  tmpDir: string;
  caFile: string;
  serverName: string;
  /** Extra node options (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** `node packages/cli/bin/matrix-notary.js all`, waited for until /_notary/health/ready answers 200. */
export async function startNotary(opts: NotaryOptions, cleanup: Cleanup): Promise<NotaryChild> {
  const port = await freeLoopbackPort();
  const metricsPort = await freeLoopbackPort();
  const env: NodeJS.ProcessEnv = {};
  // The parent's own NOTARY_* settings must not leak into the measured process.
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('NOTARY_')) env[name] = value;
  Object.assign(env, {
    NOTARY_PORT: String(port),
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_PORT: String(metricsPort),
    NOTARY_METRICS_BIND: '127.0.0.1',
    REDIS_URL: opts.redisUrl,
    NOTARY_REDIS_PREFIX: `bench-${process.pid}-${Date.now().toString(36)}`,
    NOTARY_SERVER_NAME: opts.serverName,
    NOTARY_SIGNING_KEY_FILE: path.join(opts.tmpDir, 'signing.key'),
    NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    NOTARY_FEDERATION_CA_FILE: opts.caFile,
    NOTARY_LOG_LEVEL: 'warn',
  });
  const bin = path.join(opts.repoRoot, 'packages/cli/bin/matrix-notary.js');
  if (!fs.existsSync(bin)) throw new BenchFailure(`${bin} is missing: run the benchmark from the repository root with \`npm run bench\``);
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), bin, 'all'], {
    cwd: opts.tmpDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanup.child(child);
  cleanup.add('stop the notary', () => stopChild(child));
  const tail = new OutputTail();
  tail.attach(child.stdout);
  tail.attach(child.stderr);
  const failed = spawnFailure(child, 'the notary', `${process.execPath} was not found`);
  const ready = (async () => {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while ((await httpStatus(port, '/_notary/health/ready')) !== 200) {
      if (exited(child)) throw new BenchFailure(`the notary exited at start (code ${child.exitCode}, signal ${child.signalCode}):\n${tail}`);
      if (Date.now() > deadline) throw new BenchFailure(`the notary was not ready on port ${port} within ${START_TIMEOUT_MS} ms:\n${tail}`);
      await sleep(100);
    }
  })();
  await Promise.race([ready, failed]);
  return { port, child, output: () => tail.toString() };
}

export interface BaselineChild {
  port: number;
  child: ChildProcess;
}

/** The bare node:http server (baseline-server.js beside this file) serving the bytes in bodyFile. */
export async function startBaseline(bodyFile: string, cleanup: Cleanup, nodeArgs: string[] = []): Promise<BaselineChild> {
  const script = path.join(__dirname, 'baseline-server.js');
  // stdin stays open: the child exits when it closes, so it never outlives the benchmark.
  const child = spawn(process.execPath, [...nodeArgs, script, bodyFile], { stdio: ['pipe', 'pipe', 'pipe'] });
  cleanup.child(child);
  cleanup.add('stop the baseline server', () => stopChild(child));
  const tail = new OutputTail();
  tail.attach(child.stderr);
  const failed = spawnFailure(child, 'the baseline server', `${process.execPath} was not found`);
  const ready = new Promise<number>((resolve, reject) => {
    let line = '';
    const onData = (chunk: Buffer) => {
      line += chunk.toString('utf8');
      const nl = line.indexOf('\n');
      if (nl < 0) return;
      child.stdout?.off('data', onData);
      const port = Number((JSON.parse(line.slice(0, nl)) as { port?: unknown }).port);
      if (Number.isInteger(port) && port > 0) resolve(port);
      else reject(new BenchFailure(`the baseline server said ${JSON.stringify(line.slice(0, nl))} instead of its port`));
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code, signal) => reject(new BenchFailure(`the baseline server exited at start (code ${code}, signal ${signal}):\n${tail}`)));
    setTimeout(() => reject(new BenchFailure(`the baseline server did not report its port within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS).unref();
  });
  const port = await Promise.race([ready, failed]);
  return { port, child };
}

const CLOCK_TICKS_PER_S = 100;

/**
 * CPU seconds (user + system) a process has used so far, from /proc; undefined where /proc is
 * missing. USER_HZ is 100 on every Linux the project runs on.
 */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}

/** CPU seconds the whole machine has been busy (all cores, user + system + irq + steal), from /proc/stat. */
export function machineBusyCpuSeconds(): number | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS_PER_S;
  } catch {
    return undefined;
  }
}
