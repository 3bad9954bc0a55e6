/**
 * The load runner: one closed-loop run of wrk (1 thread, N keep-alive connections, no
 * pipelining) against one target, with every request's latency kept at 1 µs resolution. wrk is
 * the generator because it costs the 2-core machine least per request (docs/benchmarks.md, "load
 * generator"); autocannon runs only in the check that shows it. Both run as child processes.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BenchFailure } from './errors';
import { LatencyHistogram } from './stats';
import { parseWrkOutput, wrkScript } from './wrk-script';

export interface LoadTarget {
  /** Scenario name, e.g. `notary POST /query, 100 servers`. */
  name: string;
  port: number;
  method: 'GET' | 'POST';
  path: string;
  bodyFile?: string;
  /** Each request's body gets its own number in place of BODY_COUNTER (see wrk-script.ts), counting from this. */
  counterFrom?: number;
  /** Exact wire bytes of one answer, headers included: every answer must be this long. */
  responseBytes: number;
}

export interface LoadOptions {
  seconds: number;
  connections: number;
  /** Where scripts and outputs go. */
  workDir: string;
}

export interface LoadResult {
  durationS: number;
  requests: number;
  requestsPerS: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  histogram: LatencyHistogram;
  /** Wall-clock ms when the run started and ended. */
  startedAtMs: number;
  endedAtMs: number;
}

/** Requests slower than this are wrk timeouts (and a failed run). */
const WRK_TIMEOUT_S = 30;

let current: ChildProcess | undefined;

/** Stops the run in progress, if any (on SIGINT). */
export function stopCurrentLoad(): void {
  current?.kill('SIGKILL');
}

/** wrk's version, e.g. "debian/4.1.0-3+b2" (from "wrk debian/4.1.0-3+b2 [epoll] Copyright ..."). */
export function wrkVersion(): string | undefined {
  let out: string | undefined;
  try {
    out = execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // wrk -v prints its version, then its usage, and exits 1.
    out = (err as { stdout?: string }).stdout;
  }
  return out === undefined ? undefined : /^wrk (\S+)/.exec(out)?.[1];
}

function runChild(command: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    current = child;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-4096)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' ? new BenchFailure(`${command} is not installed (apt-get install ${command})`) : err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      current = undefined;
      resolve({ stdout, stderr, code });
    });
  });
}

let runNumber = 0;

export async function runWrk(target: LoadTarget, opts: LoadOptions): Promise<LoadResult> {
  runNumber++;
  const outFile = path.join(opts.workDir, `wrk-${runNumber}.json`);
  const scriptFile = path.join(opts.workDir, `wrk-${runNumber}.lua`);
  fs.writeFileSync(scriptFile, wrkScript({ method: target.method, bodyFile: target.bodyFile, counterFrom: target.counterFrom, outFile }));
  const args = ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, `--timeout`, `${WRK_TIMEOUT_S}s`, '-s', scriptFile, `http://127.0.0.1:${target.port}${target.path}`];
  const startedAtMs = Date.now();
  const { stderr, code } = await runChild('wrk', args, (opts.seconds + WRK_TIMEOUT_S + 30) * 1000);
  const endedAtMs = Date.now();
  if (code !== 0 || !fs.existsSync(outFile)) {
    throw new BenchFailure(`wrk failed on "${target.name}" (exit ${code}): ${stderr.trim() || 'no output'}`);
  }
  const run = parseWrkOutput(fs.readFileSync(outFile, 'utf8'), opts.connections);
  fs.rmSync(outFile, { force: true });
  fs.rmSync(scriptFile, { force: true });
  return {
    durationS: run.durationS,
    requests: run.requests,
    requestsPerS: run.durationS > 0 ? run.requests / run.durationS : 0,
    bytes: run.bytes,
    errors: run.errors,
    histogram: LatencyHistogram.fromPairs(run.latencyPairs),
    startedAtMs,
    endedAtMs,
  };
}

/** What makes a run invalid as a measurement: failed requests, or answers not of the expected size. */
export function loadProblems(target: LoadTarget, r: LoadResult, connections: number): string[] {
  const problems: string[] = [];
  if (r.requests === 0) problems.push('no request completed');
  const e = r.errors;
  if (e.status > 0) problems.push(`${e.status} answers had a status of 400 or more`);
  if (e.connect + e.read + e.write + e.timeout > 0) {
    problems.push(`socket errors: connect ${e.connect}, read ${e.read}, write ${e.write}, timeout ${e.timeout}`);
  }
  // wrk counts every byte read, including answers still arriving when the run stopped (at most
  // one per connection): anything else means some answers were not the expected bytes.
  const min = r.requests * target.responseBytes;
  const max = (r.requests + connections) * target.responseBytes;
  if (r.requests > 0 && (r.bytes < min || r.bytes > max)) {
    problems.push(`answers averaged ${(r.bytes / r.requests).toFixed(1)} bytes, expected exactly ${target.responseBytes}`);
  }
  return problems;
}

export interface AutocannonResult {
  requests: number;
  durationS: number;
  requestsPerS: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** One autocannon run in its own process (its CLI, JSON output), for the load-generator check. */
export async function runAutocannon(target: LoadTarget, opts: LoadOptions): Promise<AutocannonResult> {
  const cli = require.resolve('autocannon/autocannon.js');
  const args = [cli, '-c', String(opts.connections), '-d', String(opts.seconds), '-j', '-m', target.method];
  if (target.bodyFile !== undefined) args.push('-b', fs.readFileSync(target.bodyFile, 'utf8'), '-H', 'content-type=application/json');
  args.push(`http://127.0.0.1:${target.port}${target.path}`);
  const { stdout, stderr, code } = await runChild(process.execPath, args, (opts.seconds + 60) * 1000);
  if (code !== 0) throw new BenchFailure(`autocannon failed on "${target.name}" (exit ${code}): ${stderr.trim()}`);
  const r = JSON.parse(stdout) as { requests: { total: number }; duration: number; latency: { p99: number }; errors: number; non2xx: number };
  return {
    requests: r.requests.total,
    durationS: r.duration,
    requestsPerS: r.duration > 0 ? r.requests.total / r.duration : 0,
    p99Ms: r.latency.p99,
    errors: r.errors,
    non2xx: r.non2xx,
  };
}
