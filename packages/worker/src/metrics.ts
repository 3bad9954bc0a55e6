/** The worker role's metrics. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '@matrix-notary/common';
import { createKeyMetrics, type KeyMetrics, type KeyStatsReading } from './key-metrics';

/** Outcomes of asking an upstream notary (see upstream-notaries.ts); every one is exported from the start, at 0. */
export const UPSTREAM_OUTCOMES = ['stored', 'empty', 'refused', 'failed', 'not_stored', 'backing_off', 'rate_limited'] as const;

export interface WorkerMetrics {
  refreshes: Counter<'outcome'>;
  refusals: Counter<'reason'>;
  fetchSeconds: Histogram<string>;
  keys: KeyMetrics;
  upstreamQueries: Counter<'outcome'>;
  resignedResponses: Counter<'outcome'>;
}

export function createWorkerMetrics(registry: Registry, readKeyStats?: () => Promise<KeyStatsReading>): WorkerMetrics {
  const metrics: WorkerMetrics = {
    keys: createKeyMetrics(registry, readKeyStats),
    refreshes: new Counter({
      name: `${METRIC_PREFIX}refreshes_total`,
      help: 'Origin refresh jobs by outcome: stored, refused (response failed a check), failed (the fetch failed), skipped (interval, backoff or another fetch), deferred (the signer was unavailable: retried later)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    refusals: new Counter({
      name: `${METRIC_PREFIX}origin_responses_refused_total`,
      help: 'Origin key responses refused, by reason (wrong_server_name, bad_signature, expires_too_soon, malformed, collision, banned_key, ...)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    upstreamQueries: new Counter({
      name: `${METRIC_PREFIX}upstream_queries_total`,
      help: 'Upstream notaries asked for an origin that could not be reached and had nothing stored, by outcome: stored, empty (it had nothing), refused (its answer failed a check), failed (it could not be asked), not_stored (the signer was unavailable, or a response was stored meanwhile), backing_off and rate_limited (not asked: it failed lately, or its asks of the window are used up)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    resignedResponses: new Counter({
      name: `${METRIC_PREFIX}resigned_responses_total`,
      help: "Stored responses countersigned again after the notary's signing keys changed, by outcome: resigned, raced (stored anew meanwhile), refused (the signer refused it), unavailable (the signer could not be asked: the sweep starts over later)",
      labelNames: ['outcome'],
      registers: [registry],
    }),
    fetchSeconds: new Histogram({
      name: `${METRIC_PREFIX}refresh_fetch_duration_seconds`,
      help: "Time spent fetching an origin's keys in a refresh job, failures included",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
  // Dashboards and alerts see a 0, not "no data", on a notary that never asked an upstream.
  for (const outcome of UPSTREAM_OUTCOMES) metrics.upstreamQueries.inc({ outcome }, 0);
  return metrics;
}

/** What the queue gauges read at scrape time. */
export interface QueueState {
  counts(): Promise<{ waiting: number; active: number; delayed: number }>;
  /** When the oldest waiting job was added (ms), or undefined when none waits. */
  oldestWaitingSince(): Promise<number | undefined>;
}

/**
 * The refresh queue's depth and age, read from Redis when Prometheus scrapes (so every worker
 * reports the same shared queue: aggregate with max, not sum). A scrape during a Redis outage
 * keeps the last values rather than failing the whole scrape.
 */
export function registerQueueGauges(registry: Registry, queue: QueueState, now: () => number = Date.now): void {
  new Gauge({
    name: `${METRIC_PREFIX}refresh_queue_jobs`,
    help: 'Refresh jobs in the shared queue by state (waiting, active, delayed); the same queue seen by every worker',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      try {
        const counts = await queue.counts();
        for (const state of ['waiting', 'active', 'delayed'] as const) this.set({ state }, counts[state]);
      } catch {
        // Redis unreachable: keep the last values; matrix_notary_redis_errors_total says why.
      }
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}refresh_queue_oldest_waiting_seconds`,
    help: 'Age of the oldest refresh job waiting for a worker (0 when none waits)',
    registers: [registry],
    async collect() {
      try {
        const since = await queue.oldestWaitingSince();
        this.set(since === undefined ? 0 : Math.max(0, (now() - since) / 1000));
      } catch {
        // as above
      }
    },
  });
}
