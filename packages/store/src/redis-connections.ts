/**
 * A role's Redis connections: opened after the start-up wait (Redis answers, the password works),
 * all configured alike, closed together. The Sentinels are asked once whether they want the
 * password too (`requirepass` on Sentinels is optional; sending one to a Sentinel without it
 * makes ioredis print a warning on every connect).
 */
import { Cluster } from 'ioredis';
import Redis from 'ioredis';
import { describeRedis, type HostPort, type Logger, type RedisSettings } from '@matrix-notary/common';
import type { Registry } from 'prom-client';
import { closeRedis, CONNECTION_ERROR_LOG_INTERVAL_MS, createProbeClient, createRedis, type RedisClient } from './redis';
import { redisErrorCounter, type RedisErrorCounter } from './redis-metrics';
import { judgeRedisError, REDIS_STARTUP_WINDOW_MS, waitForRedisAtStart, type StartupClock } from './redis-startup';

export interface RedisConnectionsOptions {
  logger: Logger;
  /** Where `matrix_notary_redis_errors_total` goes. */
  registry?: Registry;
  /** Connections are named `<name>-<purpose>` (CLIENT LIST shows them). */
  name: string;
  windowMs?: number;
  clock?: StartupClock;
}

const PROBE_ATTEMPT_MS = 3000;

export class RedisConnections {
  private readonly clients: RedisClient[] = [];
  private readonly errors?: RedisErrorCounter;

  private constructor(
    readonly settings: RedisSettings,
    private readonly opts: RedisConnectionsOptions,
    private readonly sentinelsNeedPassword: boolean,
  ) {
    this.errors = opts.registry ? redisErrorCounter(opts.registry) : undefined;
  }

  /**
   * Waits (up to 15 s) until Redis answers with the settings given; throws RedisStartupError with
   * one line for a person when it does not, or at once when it refuses the password.
   */
  static async open(settings: RedisSettings, opts: RedisConnectionsOptions): Promise<RedisConnections> {
    const windowMs = opts.windowMs ?? REDIS_STARTUP_WINDOW_MS;
    const sentinelsNeedPassword = await waitForRedisAtStart({
      settings,
      windowMs,
      clock: opts.clock,
      attempt: (timeLeftMs) => probe(settings, Math.min(timeLeftMs, PROBE_ATTEMPT_MS)),
      onWaiting: (reason) =>
        opts.logger.warn(
          { redis: describeRedis(settings), reason },
          `Redis is not answering yet; retrying for up to ${Math.round(windowMs / 1000)} s`,
        ),
    });
    return new RedisConnections(settings, opts, sentinelsNeedPassword);
  }

  /** A new connection for one purpose; `blocking` for BullMQ workers and pub/sub subscribers. */
  client(purpose: string, { blocking = false } = {}): RedisClient {
    const client = createRedis(this.settings, {
      blocking,
      connectionName: `${this.opts.name}-${purpose}`,
      logger: this.opts.logger,
      errors: this.errors,
      sentinelsNeedPassword: this.sentinelsNeedPassword,
    });
    this.clients.push(client);
    return client;
  }

  /**
   * BullMQ's Queue and Worker relay their connections' errors as 'error' events, and print stack
   * traces without a listener. A Worker works on its own duplicates of the connection it is given
   * (`ownConnections`): its errors are counted and logged here, one line per 10 s at most. A
   * Queue works on the connection it is given, which counts and logs its errors itself: the
   * relayed copies go to the debug level only.
   */
  watchBullmq(emitter: { on(event: 'error', listener: (err: Error) => void): unknown }, purpose: string, { ownConnections }: { ownConnections: boolean }): void {
    const connection = `${this.opts.name}-${purpose}`;
    let lastLogMs = -Infinity;
    emitter.on('error', (err: Error) => {
      if (!ownConnections) {
        this.opts.logger.debug({ connection, err: err?.message }, 'Redis error (relayed by BullMQ)');
        return;
      }
      this.errors?.inc();
      const now = Date.now();
      if (now - lastLogMs < CONNECTION_ERROR_LOG_INTERVAL_MS) return;
      lastLogMs = now;
      this.opts.logger.warn({ connection, err: err?.message }, 'Redis connection error; reconnecting by itself');
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => closeRedis(c)));
  }
}

/**
 * One try: the Sentinels or cluster seed nodes one by one first (their own errors say more than
 * ioredis's "all failed"), then a client as the roles use it: connect, authenticate, PING, and on
 * a cluster, check that it serves every slot. Returns whether the Sentinels want the password.
 */
async function probe(settings: RedisSettings, timeoutMs: number): Promise<boolean> {
  let sentinelsNeedPassword = false;
  if (settings.mode === 'sentinel') {
    sentinelsNeedPassword = await firstAnswer(settings.sentinels, async (node) => {
      try {
        await ping(settings, node, undefined, timeoutMs);
        return false;
      } catch (err) {
        if (!/NOAUTH/.test((err as Error).message ?? '') || settings.password === undefined) throw err;
        await ping(settings, node, settings.password, timeoutMs);
        return true;
      }
    });
  } else if (settings.mode === 'cluster') {
    await firstAnswer(settings.clusterNodes, (node) => ping(settings, node, settings.password, timeoutMs));
  }
  const client = createProbeClient(settings, sentinelsNeedPassword, timeoutMs);
  await withProbe(client, timeoutMs, async () => {
    await client.connect();
    if (client instanceof Cluster) {
      const info = String(await client.cluster('INFO'));
      if (!/cluster_state:ok/.test(info)) throw new Error('cluster_state is not ok');
    }
    await client.ping();
  });
  return sentinelsNeedPassword;
}

/** The first node for which `attempt` succeeds; a refused password stops the search. */
async function firstAnswer<T>(nodes: HostPort[], attempt: (node: HostPort) => Promise<T>): Promise<T> {
  let lastError: unknown = new Error('no node to ask');
  for (const node of nodes) {
    try {
      return await attempt(node);
    } catch (err) {
      if (judgeRedisError(err).fatal) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

/** PING one node directly (TLS as the settings say), once. */
async function ping(settings: RedisSettings, node: HostPort, password: string | undefined, timeoutMs: number): Promise<void> {
  const client = new Redis({
    host: node.host,
    port: node.port,
    username: password === undefined ? undefined : settings.username,
    password,
    tls: settings.tls ? {} : undefined,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableReadyCheck: false,
    connectTimeout: timeoutMs,
    connectionName: 'notary-startup-probe',
  });
  await withProbe(client, timeoutMs, async () => {
    await client.connect();
    await client.ping();
  });
}

/** Runs `body` with a time limit, then closes the probe connection whatever happened. */
async function withProbe(client: RedisClient, timeoutMs: number, body: () => Promise<void>): Promise<void> {
  let lastError: Error | undefined;
  const remember = (err: Error) => (lastError = err);
  client.on('error', remember);
  if (client instanceof Cluster) client.on('node error', remember);
  if (client instanceof Redis) client.on('sentinelError', remember);
  const work = body();
  work.catch(() => undefined); // it may settle after the time limit, when no one waits for it
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(lastError ?? new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    // The connection's own error says more than "Connection is closed" (e.g. ECONNREFUSED).
    throw lastError && /Connection is closed|None of startup nodes|Failed to refresh|All sentinels are unreachable/.test((err as Error).message) ? lastError : err;
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
