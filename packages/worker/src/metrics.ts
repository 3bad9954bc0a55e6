/** The worker role's metrics. */
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '@matrix-notary/common';
import { createKeyMetrics, type KeyMetrics, type KeyStatsReading } from './key-metrics';

export interface WorkerMetrics {
  refreshes: Counter<'outcome'>;
  refusals: Counter<'reason'>;
  fetchSeconds: Histogram<string>;
  keys: KeyMetrics;
}

export function createWorkerMetrics(registry: Registry, readKeyStats?: () => Promise<KeyStatsReading>): WorkerMetrics {
  return {
    keys: createKeyMetrics(registry, readKeyStats),
    refreshes: new Counter({
      name: `${METRIC_PREFIX}refreshes_total`,
      help: 'Origin refresh jobs by outcome: stored, refused (response failed a check), failed (fetch or signer failed), skipped (interval or backoff)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    refusals: new Counter({
      name: `${METRIC_PREFIX}origin_responses_refused_total`,
      help: 'Origin key responses refused, by reason (wrong_server_name, bad_signature, expires_too_soon, malformed, collision, banned_key, ...)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    fetchSeconds: new Histogram({
      name: `${METRIC_PREFIX}refresh_fetch_duration_seconds`,
      help: "Time spent fetching an origin's keys in a refresh job, failures included",
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
  };
}
