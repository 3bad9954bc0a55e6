/**
 * Redis connections. One factory so every role connects the same way; BullMQ needs
 * `maxRetriesPerRequest: null` on the connections it blocks on.
 */
import Redis, { type RedisOptions } from 'ioredis';

export type { Redis };

export interface RedisConnectOptions {
  /** For BullMQ workers and subscribers: commands wait for a reconnect instead of failing. */
  blocking?: boolean;
  connectionName?: string;
  /** Told about connection errors (at most once per 10 s); the connection retries by itself. */
  onError?: (err: Error) => void;
}

const CONNECTION_ERROR_REPORT_INTERVAL_MS = 10_000;

export function createRedis(url: string, opts: RedisConnectOptions = {}): Redis {
  const options: RedisOptions = {
    connectionName: opts.connectionName,
    enableAutoPipelining: !opts.blocking,
    maxRetriesPerRequest: opts.blocking ? null : 2,
    lazyConnect: false,
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

/** Resolves once Redis answers PING, or rejects with a message that says what to check. */
export async function waitForRedis(redis: Redis, url: string, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      redis.ping(),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Redis at ${redactUrl(url)} did not answer within ${timeoutMs} ms: is it running, and is REDIS_URL right?`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
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
