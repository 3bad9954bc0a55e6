/** The api role's metrics. Labels are bounded sets: never a server name, never a raw path. */
import { Counter, type Registry } from 'prom-client';
import { HotPathCounter, HotPathHistogram, METRIC_PREFIX } from '@matrix-notary/common';

export type RouteLabel = 'server' | 'query_get' | 'query_post' | 'other';

/** Counts and times requests of one route, method and status. */
export interface RequestRecorder {
  record(seconds: number): void;
}

export interface ApiMetrics {
  /** The recorder for a label set (made once per set): hot paths keep theirs. */
  recorder(route: RouteLabel, method: 'GET' | 'POST', status: number): RequestRecorder;
  /** Counts and times one request (recorder() then record()). */
  observeRequest(route: RouteLabel, method: 'GET' | 'POST', status: number, seconds: number): void;
  /** `query_servers_total` by result (hot path: one per origin asked). */
  serverResults: Record<'hit' | 'fetch' | 'stale', { inc(): void }>;
  refreshRequests: Counter<'reason'>;
  /** Origins a query needed that were not fetched: over the client's budget, or the queue full. */
  originsNotFetched: { clientBudget: { inc(by?: number): void }; queueFull: { inc(by?: number): void } };
  /** Answers while Redis is unreachable: from the pod's copy, or 503. */
  degradedAnswers: { podCopy: { inc(): void }; unavailable: { inc(): void } };
}

export function createApiMetrics(registry: Registry): ApiMetrics {
  // The two metrics recorded on every request are the hot-path kind: prom-client's label hashing
  // costs more per request than the rest of a cache hit's handler.
  const requests = new HotPathCounter({
    name: `${METRIC_PREFIX}http_requests_total`,
    help: 'Requests answered on the public port, by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registry,
  });
  const duration = new HotPathHistogram({
    name: `${METRIC_PREFIX}http_request_duration_seconds`,
    help: 'Time from request to the end of the response, by route',
    labelNames: ['route'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registry,
  });
  const servers = new HotPathCounter({
    name: `${METRIC_PREFIX}query_servers_total`,
    help: 'Origins asked for in queries: hit (served from cache), fetch (a fetch was needed and started), stale (needed but the origin may not be contacted yet)',
    labelNames: ['result'],
    registry,
  });
  const notFetched = new Counter({
    name: `${METRIC_PREFIX}origins_not_fetched_total`,
    help: "Origins a query needed that the notary did not fetch: client_budget (over the client's new-origin budget) or queue_full",
    labelNames: ['reason'],
    registers: [registry],
  });
  const degraded = new Counter({
    name: `${METRIC_PREFIX}degraded_answers_total`,
    help: "Key queries answered while Redis was unreachable: pod_copy (from the pod's copy of recent answers) or unavailable (503)",
    labelNames: ['how'],
    registers: [registry],
  });
  // Every series exists from the start (at 0), so rate() and alerts see them before the first event.
  for (const reason of ['client_budget', 'queue_full']) notFetched.inc({ reason }, 0);
  for (const how of ['pod_copy', 'unavailable']) degraded.inc({ how }, 0);
  const recorders = new Map<string, RequestRecorder>();
  const recorder = (route: RouteLabel, method: 'GET' | 'POST', status: number): RequestRecorder => {
    const key = `${route} ${method} ${status}`;
    let r = recorders.get(key);
    if (r === undefined) {
      const count = requests.child(route, method, String(status));
      const time = duration.child(route);
      r = {
        record(seconds) {
          count.inc();
          time.observe(seconds);
        },
      };
      recorders.set(key, r);
    }
    return r;
  };
  return {
    recorder,
    observeRequest(route, method, status, seconds) {
      recorder(route, method, status).record(seconds);
    },
    serverResults: { hit: servers.child('hit'), fetch: servers.child('fetch'), stale: servers.child('stale') },
    refreshRequests: new Counter({
      name: `${METRIC_PREFIX}refresh_requests_total`,
      help: 'Origin fetches queued by the api: miss (a query waits for it) or refresh (background)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    originsNotFetched: {
      clientBudget: notFetched.labels('client_budget'),
      queueFull: notFetched.labels('queue_full'),
    },
    degradedAnswers: { podCopy: degraded.labels('pod_copy'), unavailable: degraded.labels('unavailable') },
  };
}
