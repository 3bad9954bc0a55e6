/**
 * Metrics of key-ID bindings (DESIGN behaviour 12). Collisions are counted by the worker that
 * refuses them. Bindings held and bindings evicted are cluster-wide counts kept in Redis (an
 * operator's `keys evict` runs in its own short-lived process) and read at scrape time: every
 * worker reports the same values, so aggregate them with max(), not sum().
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '@matrix-notary/common';

export interface KeyStatsReading {
  bindings: number;
  evictedOperator: number;
  evictedRetiredLimit: number;
  evictedBannedKey: number;
}

export interface KeyMetrics {
  collisions: Counter<string>;
}

/** `readStats` is called at each scrape; when it fails the last values are kept (a scrape never fails for it). */
export function createKeyMetrics(registry: Registry, readStats?: () => Promise<KeyStatsReading>): KeyMetrics {
  let last: KeyStatsReading | undefined;
  const read = async (): Promise<KeyStatsReading | undefined> => {
    try {
      if (readStats) last = await readStats();
    } catch {
      // Redis unreachable: keep the last reading rather than fail the whole scrape.
    }
    return last;
  };
  new Gauge({
    name: `${METRIC_PREFIX}key_bindings`,
    help: 'Key-ID bindings held, cluster-wide (the same value on every worker: aggregate with max)',
    registers: [registry],
    async collect() {
      const stats = await read();
      if (stats) this.set(stats.bindings);
    },
  });
  const reported = { operator: 0, retired_limit: 0, banned_key: 0 };
  new Counter({
    name: `${METRIC_PREFIX}key_bindings_evicted_total`,
    help: 'Key-ID bindings evicted, cluster-wide, by reason: operator (matrix-notary keys evict), retired_limit (over 3,000 retired key IDs for one origin), banned_key (bound to a key of NOTARY_BANNED_KEYS_FILE, rebound); aggregate with max',
    labelNames: ['reason'],
    registers: [registry],
    async collect() {
      const stats = await read();
      if (!stats) return;
      const counts = [
        ['operator', stats.evictedOperator],
        ['retired_limit', stats.evictedRetiredLimit],
        ['banned_key', stats.evictedBannedKey],
      ] as const;
      for (const [reason, value] of counts) {
        // A counter only goes up: follow the Redis count, and start over if Redis lost it.
        if (value < reported[reason]) {
          this.remove(reason);
          reported[reason] = 0;
        }
        this.inc({ reason }, value - reported[reason]);
        reported[reason] = value;
      }
    },
  });
  return {
    collisions: new Counter({
      name: `${METRIC_PREFIX}key_collisions_total`,
      help: 'Origin responses refused because a key ID already bound to one key body came with another (MSC4499 first seen wins)',
      registers: [registry],
    }),
  };
}
