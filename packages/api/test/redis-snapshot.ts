/**
 * Everything a notary keeps in Redis under its prefix, read back whole: what bad-input tests
 * compare before and after a request to show that refused input stored nothing. BullMQ workers
 * rewrite one key on a timer (`stalled-check`, the time of their last check for stalled jobs);
 * it holds no data and is left out.
 */
import type Redis from 'ioredis';

/** Each key under the prefix, with its type and contents, in one comparable string per key. */
export type RedisSnapshot = Map<string, string>;

/** `leaveOut`: keys a test does not hold the notary to (say, the client limiter's request counts). */
export async function takeSnapshot(redis: Redis, prefix: string, leaveOut: (key: string) => boolean = () => false): Promise<RedisSnapshot> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    found.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  const keys = found.filter((k) => !k.endsWith(':stalled-check') && !leaveOut(k)).sort();
  if (keys.length === 0) return new Map();
  const types = (await redis.pipeline(keys.map((k) => ['type', k])).exec()) ?? [];
  const reads = redis.pipeline();
  keys.forEach((k, i) => {
    const type = types[i][1] as string;
    if (type === 'hash') reads.hgetall(k);
    else if (type === 'string') reads.get(k);
    else if (type === 'list') reads.lrange(k, 0, -1);
    else if (type === 'set') reads.smembers(k);
    else if (type === 'zset') reads.zrange(k, 0, -1, 'WITHSCORES');
    // A stream only grows: its last entry (its ID) says whether anything was added.
    else if (type === 'stream') reads.xrevrange(k, '+', '-', 'COUNT', 1);
    else reads.echo(type);
  });
  const contents = (await reads.exec()) ?? [];
  const out: RedisSnapshot = new Map();
  keys.forEach((k, i) => {
    const [err, value] = contents[i];
    if (err) throw err;
    const type = types[i][1] as string;
    const normal =
      type === 'hash'
        ? Object.entries(value as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        : type === 'set'
          ? [...(value as string[])].sort()
          : value;
    out.set(k, `${type} ${JSON.stringify(normal)}`);
  });
  return out;
}

/** The keys added, removed or changed between two snapshots. */
export function changedKeys(before: RedisSnapshot, after: RedisSnapshot): string[] {
  const changed: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) changed.push(k);
  for (const k of before.keys()) if (!after.has(k)) changed.push(k);
  return changed.sort();
}
