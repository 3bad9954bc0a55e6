/**
 * One measured run of autocannon against one target, with latencies kept at microsecond
 * resolution (autocannon's own histogram counts whole milliseconds, too coarse for a sub-ms hot
 * path) and the CPU time each server-side process used during the run.
 */
import autocannon from 'autocannon';
import { machineBusyCpuSeconds, processCpuSeconds } from './processes';

export interface Target {
  /** Scenario name, e.g. `notary GET /query/{origin}`. */
  name: string;
  port: number;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Every response must be exactly this; differences are counted as mismatches. */
  expectBody: string;
  /** Processes whose CPU time is charged to this target, by label (e.g. server, redis). */
  processes: Record<string, number | undefined>;
}

export interface RunResult {
  name: string;
  round: number;
  durationS: number;
  /** When the run started and ended, in µs of the monotonic clock V8's profiles use too. */
  startUs: number;
  endUs: number;
  requests: number;
  requestsPerS: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  mismatches: number;
  statusCodes: Record<string, number>;
  /** Bytes received per response, headers included. */
  bytesPerResponse: number;
  /**
   * CPU seconds used during the run, per process label, plus `loadgen` (this process) and
   * `other`: the rest of the machine (other people's work, the kernel's), a noise indicator.
   */
  cpuS: Record<string, number>;
}

/**
 * Latencies at 1 µs resolution up to 100 ms and 1 ms resolution from there to 10 s (longer ones
 * land in the last bucket): small enough to keep one per run, fine enough for a sub-ms hot path.
 */
export class MicrosHistogram {
  private static readonly FINE_US = 100_000;
  private static readonly COARSE_STEP_US = 1000;
  private static readonly MAX_US = 10_000_000;
  private static readonly BUCKETS =
    MicrosHistogram.FINE_US + (MicrosHistogram.MAX_US - MicrosHistogram.FINE_US) / MicrosHistogram.COARSE_STEP_US + 1;
  private readonly counts = new Uint32Array(MicrosHistogram.BUCKETS);
  total = 0;
  maxUs = 0;

  record(ms: number): void {
    const us = Math.min(MicrosHistogram.MAX_US, Math.max(0, Math.round(ms * 1000)));
    const index = us < MicrosHistogram.FINE_US
      ? us
      : MicrosHistogram.FINE_US + Math.floor((us - MicrosHistogram.FINE_US) / MicrosHistogram.COARSE_STEP_US);
    this.counts[index]++;
    this.total++;
    if (us > this.maxUs) this.maxUs = us;
  }

  add(other: MicrosHistogram): void {
    for (let i = 0; i < other.counts.length; i++) this.counts[i] += other.counts[i];
    this.total += other.total;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }

  /** The latency (ms) at or below which `p` percent of the recorded ones fall. */
  percentileMs(p: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const us = i < MicrosHistogram.FINE_US ? i : MicrosHistogram.FINE_US + (i - MicrosHistogram.FINE_US) * MicrosHistogram.COARSE_STEP_US;
        return us / 1000;
      }
    }
    return this.maxUs / 1000;
  }
}

export interface LoadOptions {
  seconds: number;
  connections: number;
}

let current: autocannon.Instance | undefined;

/** Stops the run in progress, if any (on SIGINT). */
export function stopCurrentLoad(): void {
  current?.stop();
}

export async function runLoad(target: Target, opts: LoadOptions, round: number): Promise<{ run: RunResult; histogram: MicrosHistogram }> {
  const histogram = new MicrosHistogram();
  const before = cpuSnapshot(target.processes);
  const startedNs = process.hrtime.bigint();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    current = autocannon(
      {
        url: `http://127.0.0.1:${target.port}${target.path}`,
        method: target.method,
        body: target.body,
        headers: target.body === undefined ? undefined : { 'content-type': 'application/json' },
        connections: opts.connections,
        pipelining: 1,
        duration: opts.seconds,
        expectBody: target.expectBody,
        setupClient: (client) => {
          client.on('response', (_status: number, _bytes: number, responseTimeMs: number) => histogram.record(responseTimeMs));
        },
      },
      (err, res) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(res)),
    );
  }).finally(() => {
    current = undefined;
  });
  const endedNs = process.hrtime.bigint();
  const wallS = Number(endedNs - startedNs) / 1e9;
  const after = cpuSnapshot(target.processes);
  const cpuS: Record<string, number> = {};
  for (const label of Object.keys(after)) {
    if (before[label] !== undefined && after[label] !== undefined) cpuS[label] = round3(Math.max(0, after[label]! - before[label]!));
  }
  const requests = result.requests.total;
  const durationS = result.duration > 0 ? result.duration : wallS;
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  const run: RunResult = {
    name: target.name,
    round,
    durationS,
    startUs: Number(startedNs / 1000n),
    endUs: Number(endedNs / 1000n),
    requests,
    requestsPerS: requests / durationS,
    latencyMs: {
      p50: histogram.percentileMs(50),
      p90: histogram.percentileMs(90),
      p99: histogram.percentileMs(99),
      max: histogram.maxUs / 1000,
    },
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    mismatches: result.mismatches,
    statusCodes,
    bytesPerResponse: requests > 0 ? Math.round(result.throughput.total / requests) : 0,
    cpuS,
  };
  return { run, histogram };
}

function cpuSnapshot(processes: Record<string, number | undefined>): Record<string, number | undefined> {
  const out: Record<string, number | undefined> = {};
  for (const [label, pid] of Object.entries(processes)) out[label] = processCpuSeconds(pid);
  const self = process.cpuUsage();
  out.loadgen = (self.user + self.system) / 1e6;
  const machine = machineBusyCpuSeconds();
  const ours = Object.values(out).reduce<number | undefined>((acc, s) => (acc === undefined || s === undefined ? undefined : acc + s), 0);
  out.other = machine === undefined || ours === undefined ? undefined : machine - ours;
  return out;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
