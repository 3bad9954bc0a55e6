/**
 * The api role: public key endpoints on NOTARY_PORT, metrics on their own port. `startApi` builds
 * its parts, starts listening and returns a handle whose `stop()` closes everything it opened, so
 * tests and the `all` role start the very same thing.
 */
import http from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { closeServer, createLogger, createRegistry, readBannedKeysFile, settleWithin, startMetricsListener, type HealthCheck, type Logger, type MetricsListener } from '@matrix-notary/common';
import { ConnectionWatch, FetchWaiter, KeyStore, RedisConnections, RefreshQueue, type RedisClient } from '@matrix-notary/store';
import type { Registry } from 'prom-client';
import type { ApiConfig } from './config';
import { createExpressApp } from './express-app';
import { createRequestHandler } from './http-handler';
import { createApiMetrics } from './metrics';
import { ClientIdentifier } from './client-address';
import { ClientLimits } from './client-limits';
import { OwnKeysCache } from './own-keys-cache';
import { meterSigner, type NotarySigner } from '@matrix-notary/signer-client';
import { answerUnparsedRequests } from './unparsed-requests';
import { QueryService } from './query-service';

export interface ApiDeps {
  /** Produces the notary's own key response: the in-process signer, or a client of the signer role. */
  signer: Pick<NotarySigner, 'ownKeys' | 'countersign'>;
  logger?: Logger;
  /** Shared with other roles in one process; when given, no metrics listener is opened here. */
  registry?: Registry;
  /** Tests shorten these to see slow clients cut off without waiting half a minute. */
  httpTimeouts?: HttpTimeouts;
  /**
   * The api's clock (ms since the epoch; default Date.now): when a query arrived and the default
   * minimum_valid_until_ts, what the store lookup judges (validity, fetch interval, refresh
   * elections), the in-pod copy's lifetime and the own-keys renewal. Tests pass one they move by
   * hand, the same as the worker's and the signer's. Timers (the fetch wait, HTTP timeouts) run
   * on real time.
   */
  now?: () => number;
  /**
   * A socket already listening, which the api takes over instead of binding NOTARY_PORT: `all`
   * opens it first when the notary's name is made from a port chosen by listening (NOTARY_PORT=0).
   */
  listener?: NetServer;
}

/**
 * How long a client may take. A stranger holding connections open costs a socket each, so a
 * request whose headers have not arrived in 20 s, or whose whole body has not in 30 s, is answered
 * 408 and closed; Node checks every `checkIntervalMs`, so a cut comes up to that much later. Idle
 * kept-alive connections last 65 s: longer than load balancers' own idle timeouts (60 s by
 * default), so the balancer always closes first and never sends on a socket the pod is closing.
 */
export interface HttpTimeouts {
  headersMs: number;
  requestMs: number;
  keepAliveMs: number;
  checkIntervalMs: number;
}

export const HTTP_TIMEOUTS: Readonly<HttpTimeouts> = Object.freeze({ headersMs: 20_000, requestMs: 30_000, keepAliveMs: 65_000, checkIntervalMs: 5_000 });

export interface ApiHandle {
  port: number;
  metricsPort?: number;
  /** Resolves when this pod can answer (the readiness probe's check). */
  ready: HealthCheck;
  stop(): Promise<void>;
}

/** How long closing the queue may take: without Redis it would wait for a reconnect. */
const QUEUE_CLOSE_MS = 1000;

/** Whether the query path may use Redis now (see ConnectionWatch). */
function watchConnection(client: RedisClient): () => Promise<boolean> {
  const watch = new ConnectionWatch(client);
  return () => watch.usable();
}

export async function startApi(config: ApiConfig, deps: ApiDeps): Promise<ApiHandle> {
  const logger = deps.logger ?? createLogger({ role: 'api', level: config.logLevel });
  const registry = deps.registry ?? createRegistry('api');
  const bannedKeys = await readBannedKeysFile(config.bannedKeysFile);
  const connections = await RedisConnections.open(config.redis, { logger, registry, name: `${config.redisPrefix}-api` });
  const redis = connections.client('lookup');
  const queueRedis = connections.client('queue');
  const subscriber = connections.client('events', { blocking: true });
  const closeConnections = () => connections.close();
  let metricsListener: MetricsListener | undefined;
  let server: http.Server | undefined;
  let queue: RefreshQueue | undefined;
  try {
    const store = new KeyStore(redis, { prefix: config.redisPrefix, bannedKeys });
    queue = new RefreshQueue(queueRedis, { prefix: config.redisPrefix, maxWaitingJobs: config.maxQueuedFetches });
    connections.watchBullmq(queue, 'queue', { ownConnections: false });
    const waiter = new FetchWaiter(subscriber, config.redisPrefix);
    await waiter.start();
    const ownKeys = new OwnKeysCache(meterSigner(deps.signer, registry), logger, deps.now);
    await ownKeys.start();
    const metrics = createApiMetrics(registry);
    const clientLimits = new ClientLimits(redis, config.redisPrefix, config.clients);
    const query = new QueryService({
      serverName: config.serverName,
      store,
      queue,
      waiter,
      ownKeys,
      limits: clientLimits,
      storeUsable: watchConnection(redis),
      logger,
      metrics,
      now: deps.now,
    });
    let stopping = false;
    // Ready while this pod can answer: until it stops. A Redis outage every pod shares is not a
    // reason to leave the load balancer (all pods would at once); pods answer from their own
    // copy or with 503 meanwhile, and recover by themselves.
    const ready: HealthCheck = async () => {
      if (stopping) throw new Error('stopping');
    };
    const app = createExpressApp({ logger, checkReady: ready });
    const handler = createRequestHandler({
      query,
      ownKeys,
      clients: new ClientIdentifier(config.clients.trustedProxies, config.clients.unlimited),
      clientLimits,
      fetchWaitMs: config.fetchWaitMs,
      limits: { maxServersPerQuery: config.maxServersPerQuery, maxKeysPerServer: config.maxKeysPerServer },
      maxBodyBytes: config.maxBodyBytes,
      metrics,
      logger,
      fallback: app,
      now: deps.now,
    });
    // requireHostHeader: Node would answer an HTTP/1.1 request without Host with a bare 400; the
    // handler refuses it with a Matrix error instead (createRequestHandler).
    const timeouts = deps.httpTimeouts ?? HTTP_TIMEOUTS;
    server = http.createServer(
      {
        keepAliveTimeout: timeouts.keepAliveMs,
        requestTimeout: timeouts.requestMs,
        headersTimeout: timeouts.headersMs,
        connectionsCheckingInterval: timeouts.checkIntervalMs,
        requireHostHeader: false,
      },
      handler,
    );
    answerUnparsedRequests(server);
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      if (deps.listener) listening.listen(deps.listener, () => resolve());
      else listening.listen(config.port, config.bind, () => resolve());
    });
    if (!deps.registry) metricsListener = await startMetricsListener(registry, config.metricsPort, config.metricsBind, ready);
    const port = (server.address() as AddressInfo).port;
    logger.info({ port, bind: config.bind, metricsPort: metricsListener?.port }, 'api listening');

    return {
      port,
      metricsPort: metricsListener?.port,
      ready,
      async stop() {
        if (stopping) return;
        stopping = true;
        await closeServer(listening);
        await metricsListener?.stop();
        await waiter.close();
        await settleWithin(queue?.close() ?? Promise.resolve(), QUEUE_CLOSE_MS);
        await closeConnections();
      },
    };
  } catch (err) {
    if (server?.listening) await closeServer(server);
    await metricsListener?.stop();
    await settleWithin(queue?.close() ?? Promise.resolve(), QUEUE_CLOSE_MS);
    await closeConnections();
    throw err;
  }
}
