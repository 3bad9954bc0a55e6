/**
 * Refresh throughput: how many origins one worker fetches, verifies, has countersigned and
 * stores a second. The refresh jobs for thousands of origins the notary has never seen are put
 * on its queue while the queue is paused (through the store's own RefreshQueue, as an api pod
 * would), then the queue is resumed and the clock runs until the worker has finished every one.
 * Each origin is a distinct DNS name of the origin farm, so every refresh is a real discovery,
 * TLS handshake and fetch.
 */
import { createRedis, RefreshQueue } from '@matrix-notary/store';
import type { BenchContext } from '../context';
import { CpuMeter } from '../cpu';
import type { Deployment } from '../deployments';
import { refreshOutcomes } from '../diagnostics';
import { scrapeMetrics } from '../probes';
import { setTimeout as sleep } from 'node:timers/promises';
import { round } from '../stats';

const POLL_MS = 100;
const ENQUEUE_CHUNK = 1000;
/** Whatever the rate, a run ends after this long (then what was done is reported). */
const MIN_TIMEOUT_S = 30;

export interface RefreshResult {
  label: string;
  origins: number;
  /** Refreshes finished (any outcome) before the run ended. */
  finished: number;
  seconds: number;
  perSecond: number;
  completed: boolean;
  outcomes: Record<string, number>;
  originFetches: number;
  /** CPU µs per refresh by process (worker, signer, redis, farm = the origins' side). */
  cpuUsPerRefresh: Record<string, number>;
  /** Average share of one core during the run, % by process. */
  cpuPercent: Record<string, number>;
  workerConcurrency: string;
  /** Monotonic µs window of the run (for CPU profiles). */
  startUs: number;
  endUs: number;
  problems: string[];
}

export async function runRefresh(ctx: BenchContext, notary: Deployment, group: string, label: string): Promise<RefreshResult> {
  const names = ctx.farm.names(group);
  ctx.say(`refresh (${label}): queueing ${names.length.toLocaleString('en-US')} first-time origins on the paused queue`);
  const connection = createRedis(ctx.redis.url, { connectionName: 'bench-refresh-queue' });
  const queue = new RefreshQueue(connection, { prefix: notary.prefix, maxWaitingJobs: names.length + 1 });
  try {
    await queue.pause();
    const requestedAt = Date.now();
    let queued = 0;
    for (let i = 0; i < names.length; i += ENQUEUE_CHUNK) {
      queued += (await queue.enqueue(names.slice(i, i + ENQUEUE_CHUNK), 'refresh', requestedAt)).length;
    }
    const problems: string[] = [];
    if (queued !== names.length) problems.push(`only ${queued} of ${names.length} refresh jobs were queued`);
    const fetchesBefore = (await ctx.farm.counts()).groups[group].fetches;
    const before = await scrapeMetrics(notary.worker.metricsPort);
    const processes: Record<string, number> = { ...notary.processes, redis: ctx.redis.pid, farm: ctx.farm.pid };
    // In `all` the api shares the process; nothing else is asked of it meanwhile.
    const meter = new CpuMeter(processes);
    const timeoutS = Math.max(MIN_TIMEOUT_S, names.length / 100);
    meter.start();
    const t0 = process.hrtime.bigint();
    await queue.resume();
    let finished = 0;
    let outcomes: Record<string, number> = {};
    let elapsedS = 0;
    for (;;) {
      await sleep(POLL_MS);
      elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
      const fetched = (await ctx.farm.counts()).groups[group].fetches - fetchesBefore;
      // The farm sees a fetch before the worker stores it: ask the worker only near the end.
      if (fetched >= names.length || elapsedS > timeoutS) {
        outcomes = refreshOutcomes(before, await scrapeMetrics(notary.worker.metricsPort));
        finished = Object.values(outcomes).reduce((a, n) => a + n, 0);
        if (finished >= names.length || elapsedS > timeoutS) break;
      }
    }
    const cpuS = meter.stop();
    const endUs = Number(process.hrtime.bigint() / 1000n);
    const originFetches = (await ctx.farm.counts()).groups[group].fetches - fetchesBefore;
    const completed = finished >= names.length;
    if (!completed) problems.push(`the worker finished ${finished} of ${names.length} refreshes within ${Math.round(timeoutS)} s`);
    const notStored = Object.entries(outcomes).filter(([o]) => o !== 'stored');
    if (notStored.length > 0) problems.push(`refreshes that did not store: ${notStored.map(([o, n]) => `${n} ${o}`).join(', ')}`);
    if (originFetches !== finished) problems.push(`${originFetches} origin fetches for ${finished} refreshes`);
    const cpuUsPerRefresh: Record<string, number> = {};
    const cpuPercent: Record<string, number> = {};
    for (const [p, s] of Object.entries(cpuS)) {
      cpuUsPerRefresh[p] = finished > 0 ? Math.round((s * 1e6) / finished) : 0;
      cpuPercent[p] = Math.round((s / elapsedS) * 100);
    }
    const result: RefreshResult = {
      label,
      origins: names.length,
      finished,
      seconds: round(elapsedS, 2),
      perSecond: Math.round(finished / elapsedS),
      completed,
      outcomes,
      originFetches,
      cpuUsPerRefresh,
      cpuPercent,
      workerConcurrency: '32 (fixed in packages/worker/src/config.ts)',
      startUs: Number(t0 / 1000n),
      endUs,
      problems: problems.map((p) => `refresh, ${label}: ${p}`),
    };
    ctx.say(`refresh (${label}): ${finished.toLocaleString('en-US')} origins in ${result.seconds} s = ${result.perSecond.toLocaleString('en-US')}/s`);
    return result;
  } finally {
    await queue.close().catch(() => undefined);
    connection.disconnect();
  }
}
