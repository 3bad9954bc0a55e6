/**
 * Prometheus metrics: one Registry per process (built by the role and passed down), the default
 * Node.js metrics, and a listener on its own port, never on the public one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

export const METRIC_PREFIX = 'matrix_notary_';

export function createRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

export interface MetricsListener {
  port: number;
  stop(): Promise<void>;
}

/** Resolves when the role is healthy; rejects with what is wrong otherwise. */
export type HealthCheck = () => Promise<void>;

export const HEALTH_PATH = '/healthz';

/**
 * `GET /metrics` for Prometheus and `GET /healthz` for probes (200 `{"ok":true}`, or 503 with
 * what is wrong), on their own port, never the public one.
 */
export async function startMetricsListener(registry: Registry, port: number, bind: string, health: HealthCheck = async () => undefined): Promise<MetricsListener> {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === HEALTH_PATH) {
      health().then(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'),
        (err: Error) => res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: false, error: err.message })),
      );
      return;
    }
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics and GET /healthz here\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, bind, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => closeServer(server),
  };
}

/** How long a stopping server lets requests in progress finish before closing their connections. */
export const SERVER_DRAIN_MS = 5000;

/**
 * Stops accepting connections, closes idle keep-alive ones, lets requests in progress finish for
 * up to `drainMs`, then closes whatever is left: a stop never waits for a keep-alive timeout.
 */
export function closeServer(server: http.Server, drainMs = SERVER_DRAIN_MS): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), drainMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
    // Connections that finish their request while draining become idle: close those too.
    const sweep = setInterval(() => server.closeIdleConnections(), 100);
    sweep.unref();
    server.once('close', () => clearInterval(sweep));
  });
}
