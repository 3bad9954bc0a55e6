/**
 * Redis for tests: the private redis-server started by jest's global setup, and a unique key
 * prefix per suite so suites never see each other's data.
 */
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';

export function testRedisUrl(): string {
  const url = process.env.NOTARY_TEST_REDIS_URL;
  if (!url) throw new Error('NOTARY_TEST_REDIS_URL is not set: run the tests through jest (its global setup starts redis-server)');
  return url;
}

export function uniquePrefix(label = 'test'): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under `prefix:` and closes the connection it opened. */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(testRedisUrl());
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
