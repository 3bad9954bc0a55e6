/**
 * Redis connections. One factory so every role connects the same way; BullMQ needs
 * `maxRetriesPerRequest: null` on the connections it blocks on.
 */
import { settleWithin } from '@matrix-notary/common';
import Redis, { type RedisOptions } from 'ioredis';

export type { Redis };

export interface RedisConnectOptions {
  /** For BullMQ workers and subscribers: commands wait for a reconnect instead of failing. */
  blocking?: boolean;
  /**
   * For the query path: while Redis is unreachable a command fails at once (no queueing for a
   * reconnect), and one that gets no answer fails after FAIL_FAST_COMMAND_TIMEOUT_MS, so a pod
   * answers from its own copy or with 503 quickly instead of ever more slowly.
   */
  failFast?: boolean;
  connectionName?: string;
  /** Told about connection errors (at most once per 10 s); the connection retries by itself. */
  onError?: (err: Error) => void;
}

const CONNECTION_ERROR_REPORT_INTERVAL_MS = 10_000;
export const FAIL_FAST_COMMAND_TIMEOUT_MS = 2000;

export function createRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  const options: RedisOptions = {
    connectionName: opts.connectionName,
    enableAutoPipelining: !opts.blocking,
    maxRetriesPerRequest: opts.blocking ? null : 2,
    lazyConnect: false,
    ...(opts.failFast ? { enableOfflineQueue: false, commandTimeout: FAIL_FAST_COMMAND_TIMEOUT_MS } : {}),
  };
  const redis = new Redis(url, options);
  // Without a listener ioredis prints every connection error with a stack trace. Commands that
  // fail still reject; this only reports the connection's state, without flooding the log.
  let lastReport = 0;
  redis.on('error', (err: Error) => {
    const now = Date.now();
    if (now - lastReport < CONNECTION_ERROR_REPORT_INTERVAL_MS) return;
    lastReport = now;
    opts.onError?.(err);
  });
  return redis;
}

/** Resolves once the connection is ready, or rejects with a message that says what to check. */
export async function waitForRedis(redis: Redis, url: string, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  let timer: NodeJS.Timeout | undefined;
  let onReady: (() => void) | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve) => redis.once('ready', (onReady = resolve))),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis at ${redactUrl(url)} did not answer within ${timeoutMs} ms: is it running, and is REDIS_URL right?`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onReady) redis.off('ready', onReady);
  }
}

/** A Redis URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/** How long a polite QUIT may take before the connection is simply dropped. */
const QUIT_WAIT_MS = 1000;

/**
 * Closes connections without ever waiting on a Redis that is not there: QUIT (bounded) when the
 * connection is up, so replies in flight arrive; a plain disconnect otherwise (a QUIT queued for
 * a reconnect would wait for good).
 */
export async function closeRedis(...connections: Redis[]): Promise<void> {
  await Promise.all(
    connections.map(async (r) => {
      if (r.status === 'ready') await settleWithin(r.quit(), QUIT_WAIT_MS);
      r.disconnect();
    }),
  );
}
