/** The api role's metrics. Labels are bounded sets: never a server name, never a raw path. */
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '@matrix-notary/common';

export type RouteLabel = 'server' | 'query_get' | 'query_post' | 'other';

export interface ApiMetrics {
  requests: Counter<'route' | 'method' | 'status'>;
  duration: Histogram<'route'>;
  servers: Counter<'result'>;
  refreshRequests: Counter<'reason'>;
  refreshRequestsDropped: Counter<string>;
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  return {
    requests: new Counter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'Requests answered on the public port, by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Time from request to the end of the response, by route',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    servers: new Counter({
      name: `${METRIC_PREFIX}query_servers_total`,
      help: 'Origins asked for in queries: hit (served from cache), fetch (a fetch was needed and started), stale (needed but the origin may not be contacted yet)',
      labelNames: ['result'],
      registers: [registry],
    }),
    refreshRequests: new Counter({
      name: `${METRIC_PREFIX}refresh_requests_total`,
      help: 'Origin fetches queued by the api: miss (a query waits for it) or refresh (background)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    refreshRequestsDropped: new Counter({
      name: `${METRIC_PREFIX}refresh_requests_dropped_total`,
      help: 'Origin fetches not queued because the refresh queue was full',
      registers: [registry],
    }),
  };
}
