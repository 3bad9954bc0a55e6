/** `matrix_notary_redis_errors_total`: one counter per registry, shared by every connection. */
import { Counter, type Registry } from 'prom-client';

export const REDIS_ERRORS_METRIC = 'matrix_notary_redis_errors_total';

export interface RedisErrorCounter {
  inc(): void;
}

/** The registry's counter, created on first use (api and worker share one registry in `all`). */
export function redisErrorCounter(registry: Registry): RedisErrorCounter {
  const existing = registry.getSingleMetric(REDIS_ERRORS_METRIC);
  if (existing) return existing as Counter;
  return new Counter({
    name: REDIS_ERRORS_METRIC,
    help: 'Redis connection errors and failed Redis commands',
    registers: [registry],
  });
}
