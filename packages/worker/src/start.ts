/**
 * The worker role: consumes the refresh queue, fetching and storing origins' keys. `startWorker`
 * returns a handle whose `stop()` waits for running jobs and closes every connection.
 */
import { Worker } from 'bullmq';
import { createLogger, createRegistry, readBannedKeysFile, settleWithin, startMetricsListener, type Logger, type MetricsListener } from '@matrix-notary/common';
import { FederationClient } from '@matrix-notary/federation';
import { bullPrefix, FetchEventPublisher, KeyStore, RedisConnections, REFRESH_QUEUE_NAME, RefreshQueue, StoredResponses, UpstreamLimits, type RefreshJobData } from '@matrix-notary/store';
import type { Registry } from 'prom-client';
import type { WorkerConfig } from './config';
import { createWorkerMetrics, registerQueueGauges } from './metrics';
import { meterSigner, type NotarySigner } from '@matrix-notary/signer-client';
import { RefreshDeferred, refreshOrigin, type OriginFetcher } from './refresh-origin';
import { ResignSweeper, type ResignDeps } from './resign-sweep';
import { SignerGate } from './signer-gate';
import { UPSTREAM_ASKS_PER_WINDOW, UPSTREAM_FIRST_BACKOFF_MS, UPSTREAM_WINDOW_MS, UpstreamNotaries, type UpstreamPoster } from './upstream-notaries';

/** Time allowed for countersigning and storing, on top of the origin fetch, in a fetch's lease. */
const SIGNER_SHARE_MS = 10_000;
/** How long a running job's lock lasts unrenewed: a dead worker's job is free again after this. */
const JOB_LOCK_MS = 10_000;
/** How often each worker looks for jobs whose worker died (BullMQ's default is 30 s). */
const STALLED_CHECK_MS = 5_000;

export interface WorkerDeps {
  /** Countersigns; its ownKeys() is how a signer thought down is probed. */
  signer: Pick<NotarySigner, 'ownKeys' | 'countersign'>;
  logger?: Logger;
  registry?: Registry;
  /** Replaces the federation client (tests of policy); by default one is built from the config. */
  fetcher?: OriginFetcher;
  /** Replaces how upstream notaries are reached (tests); by default the federation client. */
  upstreamPoster?: UpstreamPoster;
  /** The re-sign sweep's check interval and pause (tests); by default resign-sweep.ts's. */
  resignTiming?: Pick<ResignDeps, 'checkIntervalMs' | 'pause' | 'batchSize'>;
  /**
   * The worker's clock (ms since the epoch; default Date.now): what it records and judges about
   * origins (claims, fetch and failure times, backoff, a response's validity, upstream answers).
   * Tests pass one they move by hand, the same as the api's. Timers and timeouts run on real time,
   * and so do the signer probe's rate and the queue gauges (they compare with BullMQ's own
   * timestamps).
   */
  now?: () => number;
}

export interface WorkerHandle {
  metricsPort?: number;
  stop(): Promise<void>;
}

/** How long closing the queue view may take: without Redis it would wait for a reconnect. */
const QUEUE_CLOSE_MS = 1000;

export async function startWorker(config: WorkerConfig, deps: WorkerDeps): Promise<WorkerHandle> {
  const logger = deps.logger ?? createLogger({ role: 'worker', level: config.logLevel });
  const registry = deps.registry ?? createRegistry('worker');
  const bannedKeys = await readBannedKeysFile(config.bannedKeysFile);
  const connections = await RedisConnections.open(config.redis, { logger, registry, name: `${config.redisPrefix}-worker` });
  const redis = connections.client('store');
  const bullRedis = connections.client('queue', { blocking: true });
  const closeConnections = () => connections.close();
  let metricsListener: MetricsListener | undefined;
  let federation: FederationClient | undefined;
  let queueView: RefreshQueue | undefined;
  let stopSweeper = async (): Promise<void> => undefined;
  try {
    const store = new KeyStore(redis, { prefix: config.redisPrefix, bannedKeys });
    const events = new FetchEventPublisher(redis, config.redisPrefix);
    const metrics = createWorkerMetrics(registry, () => store.readKeyStats());
    // Reads the queue's state for the gauges; it adds nothing (no room for a job).
    queueView = new RefreshQueue(redis, { prefix: config.redisPrefix, maxWaitingJobs: 0 });
    connections.watchBullmq(queueView, 'queue-view', { ownConnections: false });
    registerQueueGauges(registry, queueView);
    const asksUpstreams = config.upstreamNotaries.length > 0;
    if (!deps.fetcher || (asksUpstreams && !deps.upstreamPoster)) {
      federation = new FederationClient({ ...config.origin, logger, registry });
    }
    const fetcher: OriginFetcher = deps.fetcher ?? (federation as FederationClient);
    const policy = {
      notaryServerName: config.serverName,
      minIntervalMs: config.originMinIntervalMs,
      maxBackoffMs: config.originMaxBackoffMs,
      minKeyValidityMs: config.minKeyValidityMs,
      // Upstream notaries are asked within the same claim, for at most one more origin timeout.
      fetchLeaseMs: config.origin.totalTimeoutMs * (asksUpstreams ? 2 : 1) + SIGNER_SHARE_MS,
      bannedKeys,
    };
    const signer = meterSigner(deps.signer, registry);
    const gate = new SignerGate(() => signer.ownKeys());
    const upstreams = asksUpstreams
      ? new UpstreamNotaries({
          upstreams: config.upstreamNotaries,
          poster: deps.upstreamPoster ?? (federation as FederationClient),
          store,
          limits: new UpstreamLimits(redis, config.redisPrefix, {
            windowMs: UPSTREAM_WINDOW_MS,
            asksPerWindow: UPSTREAM_ASKS_PER_WINDOW,
            firstBackoffMs: UPSTREAM_FIRST_BACKOFF_MS,
            maxBackoffMs: config.originMaxBackoffMs,
          }),
          signer,
          gate,
          policy: {
            notaryServerName: config.serverName,
            minKeyValidityMs: config.minKeyValidityMs,
            bannedKeys,
            timeoutMs: config.origin.totalTimeoutMs,
          },
          logger,
          metrics,
          now: deps.now,
        })
      : undefined;
    const refreshDeps = { store, events, fetcher, signer, gate, policy, logger, metrics, upstreams, now: deps.now };
    const worker = new Worker<RefreshJobData>(
      REFRESH_QUEUE_NAME,
      async (job) =>
        refreshOrigin(job.data.serverName, refreshDeps, {
          claimant: job.id ?? job.data.serverName,
          requestedAtMs: job.data.requestedAt,
          kept: job.data.kept === undefined ? undefined : Buffer.from(job.data.kept, 'base64'),
          keep: (body) => job.updateData({ ...job.data, kept: body.toString('base64') }),
        }),
      {
        connection: bullRedis,
        prefix: bullPrefix(config.redisPrefix),
        concurrency: config.concurrency,
        // A job whose worker died is found and run again within about LOCK + STALLED_CHECK.
        lockDuration: JOB_LOCK_MS,
        stalledInterval: STALLED_CHECK_MS,
      },
    );
    worker.on('failed', (job, err) => {
      // Deferred refreshes are retried by design and logged where they were deferred.
      if (err instanceof RefreshDeferred || err.name === 'RefreshDeferred') return;
      logger.error({ origin: job?.data.serverName, err: err.message }, 'refresh job failed unexpectedly');
    });
    connections.watchBullmq(worker, 'jobs', { ownConnections: true });
    await worker.waitUntilReady();
    // Stored responses signed before the signer's keys changed are re-signed in the background.
    const sweeper = new ResignSweeper({
      responses: new StoredResponses(redis, config.redisPrefix),
      signer,
      gate,
      notaryServerName: config.serverName,
      bannedKeys,
      logger,
      resigned: metrics.resignedResponses,
      ...deps.resignTiming,
    });
    sweeper.start();
    stopSweeper = () => sweeper.stop();
    // Healthy while it consumes the queue; a Redis outage is not a reason to restart the worker
    // (it reconnects by itself), so it does not fail the probe.
    const health = async (): Promise<void> => {
      if (!worker.isRunning()) throw new Error('the worker is not consuming the refresh queue');
    };
    if (!deps.registry) metricsListener = await startMetricsListener(registry, config.metricsPort, config.metricsBind, health);
    logger.info(
      {
        concurrency: config.concurrency,
        metricsPort: metricsListener?.port,
        bannedKeys: bannedKeys.size,
        upstreamNotaries: config.upstreamNotaries.map((u) => u.serverName),
      },
      'worker consuming the refresh queue',
    );

    let stopped = false;
    return {
      metricsPort: metricsListener?.port,
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopSweeper();
        // Running jobs finish while Redis is there to record them; without Redis they cannot.
        await worker.close(bullRedis.status !== 'ready');
        // Its own blocking connection, which a close without Redis leaves reconnecting.
        await settleWithin(worker.disconnect(), QUEUE_CLOSE_MS);
        await metricsListener?.stop();
        await federation?.close();
        await settleWithin(queueView?.close() ?? Promise.resolve(), QUEUE_CLOSE_MS);
        await closeConnections();
      },
    };
  } catch (err) {
    await stopSweeper();
    await metricsListener?.stop();
    await federation?.close();
    await settleWithin(queueView?.close() ?? Promise.resolve(), QUEUE_CLOSE_MS);
    await closeConnections();
    throw err;
  }
}
