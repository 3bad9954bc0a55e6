/**
 * A role's Redis connections: opened after the start-up wait (Redis answers, the password works),
 * all configured alike, closed together. The Sentinels are asked once whether they want the
 * password too (`requirepass` on Sentinels is optional; sending one to a Sentinel without it
 * makes ioredis print a warning on every connect).
 */
import type { EventEmitter } from 'node:events';
import { Cluster } from 'ioredis';
import Redis from 'ioredis';
import { describeRedis, type Logger, type RedisSettings } from '@matrix-notary/common';
import type { Registry } from 'prom-client';
import { closeRedis, CONNECTION_ERROR_LOG_INTERVAL_MS, createProbeClient, createRedis, type RedisClient } from './redis';
import { redisErrorCounter, type RedisErrorCounter } from './redis-metrics';
import { REDIS_STARTUP_WINDOW_MS, waitForRedisAtStart, type StartupClock } from './redis-startup';

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
   * BullMQ's Queue and Worker relay their own connections' errors as 'error' events, and print
   * stack traces without a listener. This one logs at most one line per 10 s; `count` for a
   * Worker, whose connections are its own duplicates (a Queue's errors are its connection's,
   * counted there already).
   */
  watch(emitter: Pick<EventEmitter, 'on'>, purpose: string, { count }: { count: boolean }): void {
    let lastLogMs = -Infinity;
    emitter.on('error', (err: Error) => {
      if (count) this.errors?.inc();
      const now = Date.now();
      if (now - lastLogMs < CONNECTION_ERROR_LOG_INTERVAL_MS) return;
      lastLogMs = now;
      this.opts.logger.warn({ connection: `${this.opts.name}-${purpose}`, err: err?.message }, 'Redis error; retrying by itself');
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => closeRedis(c)));
  }
}

/**
 * One try: connect, authenticate, PING (and on a cluster, check that it serves every slot).
 * Returns whether the Sentinels want the password.
 */
async function probe(settings: RedisSettings, timeoutMs: number): Promise<boolean> {
  const sentinelsNeedPassword = settings.mode === 'sentinel' ? await sentinelsWantPassword(settings, timeoutMs) : false;
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

/** Asks the Sentinels in turn: the first that answers says whether it wants a password. */
async function sentinelsWantPassword(settings: RedisSettings, timeoutMs: number): Promise<boolean> {
  let lastError: unknown = new Error('All sentinels are unreachable');
  for (const sentinel of settings.sentinels) {
    const client = new Redis({
      host: sentinel.host,
      port: sentinel.port,
      tls: settings.tls ? {} : undefined,
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableReadyCheck: false,
      connectTimeout: timeoutMs,
      connectionName: 'notary-startup-probe',
    });
    try {
      await withProbe(client, timeoutMs, async () => {
        await client.connect();
        await client.ping();
      });
      return false;
    } catch (err) {
      if (/NOAUTH/.test((err as Error).message ?? '')) return true;
      lastError = err;
    }
  }
  throw lastError;
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
