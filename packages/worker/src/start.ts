/**
 * The worker role: consumes the refresh queue, fetching and storing origins' keys. `startWorker`
 * returns a handle whose `stop()` waits for running jobs and closes every connection.
 */
import { Worker } from 'bullmq';
import { createLogger, createRegistry, startMetricsListener, type Logger, type MetricsListener } from '@matrix-notary/common';
import { FederationClient } from '@matrix-notary/federation';
import { cryptoReady } from '@matrix-notary/protocol';
import { bullPrefix, FetchEventPublisher, KeyStore, RedisConnections, REFRESH_QUEUE_NAME, type RefreshJobData } from '@matrix-notary/store';
import type { Registry } from 'prom-client';
import type { WorkerConfig } from './config';
import { createWorkerMetrics } from './metrics';
import { refreshOrigin, type Countersigner, type OriginFetcher } from './refresh-origin';

/** Time allowed for countersigning and storing, on top of the origin fetch, in a fetch's lease. */
const SIGNER_SHARE_MS = 10_000;

export interface WorkerDeps {
  signer: Countersigner;
  logger?: Logger;
  registry?: Registry;
  /** Replaces the federation client (tests of policy); by default one is built from the config. */
  fetcher?: OriginFetcher;
}

export interface WorkerHandle {
  metricsPort?: number;
  stop(): Promise<void>;
}

export async function startWorker(config: WorkerConfig, deps: WorkerDeps): Promise<WorkerHandle> {
  const logger = deps.logger ?? createLogger({ role: 'worker', level: config.logLevel });
  const registry = deps.registry ?? createRegistry('worker');
  const connections = await RedisConnections.open(config.redis, { logger, registry, name: `${config.redisPrefix}-worker` });
  const redis = connections.client('store');
  const bullRedis = connections.client('queue', { blocking: true });
  const closeRedis = () => connections.close();
  let metricsListener: MetricsListener | undefined;
  let federation: FederationClient | undefined;
  try {
    await cryptoReady(); // origin signatures are checked here, before the signer sees them
    const store = new KeyStore(redis, { prefix: config.redisPrefix });
    const events = new FetchEventPublisher(redis, config.redisPrefix);
    const metrics = createWorkerMetrics(registry);
    if (!deps.fetcher) {
      federation = new FederationClient({ ...config.origin, logger, registry });
    }
    const fetcher: OriginFetcher = deps.fetcher ?? (federation as FederationClient);
    const policy = {
      notaryServerName: config.serverName,
      minIntervalMs: config.originMinIntervalMs,
      maxBackoffMs: config.originMaxBackoffMs,
      minKeyValidityMs: config.minKeyValidityMs,
      fetchLeaseMs: config.origin.totalTimeoutMs + SIGNER_SHARE_MS,
    };
    const worker = new Worker<RefreshJobData>(
      REFRESH_QUEUE_NAME,
      async (job) =>
        refreshOrigin(job.data.serverName, { store, events, fetcher, signer: deps.signer, policy, logger, metrics }, job.data.requestedAt),
      { connection: bullRedis, prefix: bullPrefix(config.redisPrefix), concurrency: config.concurrency },
    );
    worker.on('failed', (job, err) => {
      logger.error({ origin: job?.data.serverName, err: err.message }, 'refresh job failed unexpectedly');
    });
    connections.watchBullmq(worker, 'jobs', { ownConnections: true });
    await worker.waitUntilReady();
    if (!deps.registry) metricsListener = await startMetricsListener(registry, config.metricsPort, config.metricsBind);
    logger.info({ concurrency: config.concurrency, metricsPort: metricsListener?.port }, 'worker consuming the refresh queue');

    let stopped = false;
    return {
      metricsPort: metricsListener?.port,
      async stop() {
        if (stopped) return;
        stopped = true;
        await worker.close();
        await metricsListener?.stop();
        await federation?.close();
        await closeRedis();
      },
    };
  } catch (err) {
    await metricsListener?.stop();
    await federation?.close();
    await closeRedis();
    throw err;
  }
}
