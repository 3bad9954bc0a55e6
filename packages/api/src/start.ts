/**
 * The api role: public key endpoints on NOTARY_PORT, metrics on their own port. `startApi` builds
 * its parts, starts listening and returns a handle whose `stop()` closes everything it opened, so
 * tests and the `all` role start the very same thing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer, createLogger, createRegistry, startMetricsListener, type Logger, type MetricsListener } from '@matrix-notary/common';
import { FetchWaiter, KeyStore, RedisConnections, RefreshQueue } from '@matrix-notary/store';
import type { Registry } from 'prom-client';
import type { ApiConfig } from './config';
import { createExpressApp } from './express-app';
import { createRequestHandler } from './http-handler';
import { createApiMetrics } from './metrics';
import { OwnKeysCache, type OwnKeysSource } from './own-keys-cache';
import { QueryService } from './query-service';

export interface ApiDeps {
  /** Produces the notary's own key response: the in-process signer, or a client of the signer role. */
  signer: OwnKeysSource;
  logger?: Logger;
  /** Shared with other roles in one process; when given, no metrics listener is opened here. */
  registry?: Registry;
}

export interface ApiHandle {
  port: number;
  metricsPort?: number;
  stop(): Promise<void>;
}

export async function startApi(config: ApiConfig, deps: ApiDeps): Promise<ApiHandle> {
  const logger = deps.logger ?? createLogger({ role: 'api', level: config.logLevel });
  const registry = deps.registry ?? createRegistry('api');
  const connections = await RedisConnections.open(config.redis, { logger, registry, name: `${config.redisPrefix}-api` });
  const redis = connections.client('lookup');
  // Only adds jobs (never blocks), so it fails fast like the lookup connection during an outage.
  const queueRedis = connections.client('queue');
  const subscriber = connections.client('events', { blocking: true });
  const closeRedis = () => connections.close();
  let metricsListener: MetricsListener | undefined;
  let server: http.Server | undefined;
  let queue: RefreshQueue | undefined;
  try {
    const store = new KeyStore(redis, { prefix: config.redisPrefix });
    queue = new RefreshQueue(queueRedis, { prefix: config.redisPrefix, maxWaitingJobs: config.maxQueuedFetches });
    connections.watchBullmq(queue.queue, 'queue', { ownConnections: false });
    const waiter = new FetchWaiter(subscriber, config.redisPrefix);
    await waiter.start();
    const ownKeys = new OwnKeysCache(deps.signer, logger);
    await ownKeys.start();
    const metrics = createApiMetrics(registry);
    const query = new QueryService({
      serverName: config.serverName,
      store,
      queue,
      waiter,
      ownKeys,
      fetchWaitMs: config.fetchWaitMs,
      logger,
      metrics,
    });
    const app = createExpressApp({ logger, checkReady: async () => void (await redis.ping()) });
    const handler = createRequestHandler({
      query,
      ownKeys,
      limits: { maxServersPerQuery: config.maxServersPerQuery, maxKeysPerServer: config.maxKeysPerServer },
      maxBodyBytes: config.maxBodyBytes,
      metrics,
      logger,
      fallback: app,
    });
    server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 30_000, headersTimeout: 20_000 }, handler);
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(config.port, config.bind, () => resolve());
    });
    if (!deps.registry) metricsListener = await startMetricsListener(registry, config.metricsPort, config.metricsBind);
    const port = (server.address() as AddressInfo).port;
    logger.info({ port, bind: config.bind, metricsPort: metricsListener?.port }, 'api listening');

    let stopped = false;
    return {
      port,
      metricsPort: metricsListener?.port,
      async stop() {
        if (stopped) return;
        stopped = true;
        await closeServer(listening);
        await metricsListener?.stop();
        await waiter.close();
        await queue?.close();
        await closeRedis();
      },
    };
  } catch (err) {
    if (server?.listening) await closeServer(server);
    await metricsListener?.stop();
    await queue?.close().catch(() => undefined);
    await closeRedis();
    throw err;
  }
}
