/**
 * Redis connections: the one factory every role connects through, for the three deployments the
 * notary supports (one Redis, a Sentinel-managed master, a Redis Cluster), with TLS in each.
 *
 * Every connection retries by itself for ever (a role never gives up on Redis once started), logs
 * at most one line per 10 s while it cannot reach Redis, and counts connection errors and failed
 * commands in `matrix_notary_redis_errors_total`. The password is passed to ioredis only: it is
 * never in a log line or an error message.
 */
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger, RedisSettings } from '@matrix-notary/common';
import { redisSettingsFromUrl } from '@matrix-notary/common';
import type { RedisErrorCounter } from './redis-metrics';

export type { Redis, Cluster };

/** What every part of the notary takes: a connection to one Redis or to a whole cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisConnectOptions {
  /** For BullMQ workers and subscribers: commands wait for a reconnect instead of failing. */
  blocking?: boolean;
  /** Shown by CLIENT LIST, and in this connection's log lines. */
  connectionName?: string;
  /** Told about connection errors, at most one line per 10 s. */
  logger?: Logger;
  /** Counts connection errors and failed commands. */
  errors?: RedisErrorCounter;
  /**
   * Send the Redis password to the Sentinels too (they have `requirepass`). Decided by
   * RedisConnections.open, which asks the Sentinels; false by default.
   */
  sentinelsNeedPassword?: boolean;
}

/** How often one connection may log that it cannot reach Redis. */
export const CONNECTION_ERROR_LOG_INTERVAL_MS = 10_000;
/** Reconnect delays grow by this much per attempt, up to the cap; a connection never gives up. */
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_MS = 2000;
/** Commands of a non-blocking connection fail after this many reconnects instead of waiting. */
const FAIL_FAST_RETRIES = 2;

const reconnectDelay = (attempt: number): number => Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_MAX_MS);

/**
 * A demoted master answers writes with READONLY (a failover happened and this connection still
 * points at the old master): reconnect, which asks the Sentinels again, and resend the command.
 */
function reconnectOnReadOnly(err: Error): 2 | false {
  return err.message.startsWith('READONLY') ? 2 : false;
}

/** ioredis options common to a standalone connection, a Sentinel connection and a cluster node. */
function nodeOptions(settings: RedisSettings, opts: RedisConnectOptions): RedisOptions {
  return {
    username: settings.username,
    password: settings.password,
    connectionName: opts.connectionName,
    tls: settings.tls ? {} : undefined,
    maxRetriesPerRequest: opts.blocking ? null : FAIL_FAST_RETRIES,
    retryStrategy: reconnectDelay,
    reconnectOnError: reconnectOnReadOnly,
    enableAutoPipelining: !opts.blocking,
  };
}

/** One connection (or cluster client) as the settings say. */
export function createRedis(target: string, opts?: RedisConnectOptions): Redis;
export function createRedis(target: RedisSettings, opts?: RedisConnectOptions): RedisClient;
export function createRedis(target: string | RedisSettings, opts: RedisConnectOptions = {}): RedisClient {
  const settings = typeof target === 'string' ? redisSettingsFromUrl(target) : target;
  const client = buildClient(settings, opts);
  watchConnection(client, opts);
  if (opts.errors) countFailedCommands(client, opts.errors);
  return client;
}

/**
 * A connection that tries once and never reconnects, for the start-up probe: it connects only when
 * told to, and every failure surfaces as a rejected promise (nothing is retried behind its back).
 */
export function createProbeClient(settings: RedisSettings, sentinelsNeedPassword: boolean, timeoutMs: number): RedisClient {
  return buildClient(settings, { sentinelsNeedPassword, connectionName: 'notary-startup-probe' }, timeoutMs);
}

function buildClient(settings: RedisSettings, opts: RedisConnectOptions, probeTimeoutMs?: number): RedisClient {
  const probe = probeTimeoutMs !== undefined;
  const never = () => null;
  const node: RedisOptions = {
    ...nodeOptions(settings, opts),
    ...(probe ? { lazyConnect: true, retryStrategy: never, maxRetriesPerRequest: 0, connectTimeout: probeTimeoutMs, reconnectOnError: null } : {}),
  };
  switch (settings.mode) {
    case 'sentinel':
      return new Redis({
        ...node,
        db: settings.db,
        sentinels: settings.sentinels,
        name: settings.sentinelMaster,
        sentinelPassword: opts.sentinelsNeedPassword ? settings.password : undefined,
        sentinelUsername: opts.sentinelsNeedPassword ? settings.username : undefined,
        // rediss:// means TLS to the Sentinels and to the master they name.
        enableTLSForSentinelMode: settings.tls,
        sentinelTLS: settings.tls ? {} : undefined,
        sentinelRetryStrategy: probe ? never : reconnectDelay,
        // Follows a failover at once: the Sentinels announce the new master (+switch-master)
        // before they demote the old one, which goes on taking writes (lost at its demotion)
        // for up to 10 s otherwise. The cost: a subscription to each Sentinel per connection,
        // and ioredis ends those with a 2 s grace timer when a connection closes.
        failoverDetector: !probe,
      });
    case 'cluster': {
      const clusterOptions: ClusterOptions = {
        redisOptions: { ...node, enableAutoPipelining: undefined },
        clusterRetryStrategy: probe ? never : reconnectDelay,
        lazyConnect: probe,
        // Commands issued in one tick are sent as one pipeline per node (KeyStore relies on it).
        enableAutoPipelining: !opts.blocking,
        // Pub/sub: one subscriber connection to any node, with PUBLISH/SUBSCRIBE (see
        // fetch-events.ts for why not the sharded kind).
        shardedSubscribers: false,
      };
      return new Cluster(settings.clusterNodes, clusterOptions);
    }
    default:
      return new Redis({ ...node, host: settings.host, port: settings.port, db: settings.db });
  }
}

/**
 * Without an 'error' listener ioredis prints every connection error with a stack trace. This one
 * counts each, and logs one line per 10 s at most, and one line when the connection is back.
 * (Roles open their connections once the start-up wait has seen Redis answer, so this does not
 * repeat what that wait reports.)
 */
function watchConnection(client: RedisClient, opts: RedisConnectOptions): void {
  const name = opts.connectionName ?? 'redis';
  let failing = false;
  let lastLogMs = -Infinity;
  const onError = (err: Error) => {
    opts.errors?.inc();
    failing = true;
    const now = Date.now();
    if (now - lastLogMs < CONNECTION_ERROR_LOG_INTERVAL_MS) return;
    lastLogMs = now;
    opts.logger?.warn({ connection: name, err: err.message }, 'Redis connection error; reconnecting by itself');
  };
  client.on('error', onError);
  // A cluster reports trouble with one node apart ('node error'): the client itself may still work.
  if (client instanceof Cluster) client.on('node error', onError);
  client.on('ready', () => {
    if (!failing) return;
    failing = false;
    opts.logger?.info({ connection: name }, 'Redis connection restored');
  });
}

/**
 * Counts every command that ends in an error. ioredis offers no hook for it, so the client's
 * sendCommand is wrapped; NOSCRIPT is not counted (ioredis answers it by sending the script).
 */
function countFailedCommands(client: RedisClient, errors: RedisErrorCounter): void {
  type Send = (command: { promise: Promise<unknown> }, ...rest: unknown[]) => unknown;
  const target = client as unknown as { sendCommand: Send };
  const send = target.sendCommand.bind(client) as Send;
  target.sendCommand = (command, ...rest) => {
    command.promise.catch((err: Error) => {
      if (!err?.message?.startsWith('NOSCRIPT')) errors.inc();
    });
    return send(command, ...rest);
  };
}

/**
 * Closes a connection at once. Callers await their own commands before closing, so nothing is
 * left to flush; QUIT would wait for a Redis that may be down, and on a Sentinel connection the
 * server's close after QUIT reads as a lost connection and reconnects once more.
 * ioredis's disconnect half-closes the socket and keeps a 2 s timer to destroy it if the server
 * does not close its side; the socket is destroyed here at once, so nothing outlives the close.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  // Closed already (BullMQ closes the connections it was given): a second disconnect would wait
  // 2 s for a 'close' that has come and gone.
  if (client.status === 'end') return;
  const streams = client instanceof Cluster ? client.nodes().map((n) => n.stream) : [client.stream];
  client.disconnect();
  for (const stream of streams) stream?.destroy();
}
