/**
 * Looking into the running parts without disturbing a measurement: a notary process's metrics
 * endpoint, and Redis's own records of slow moments (LATENCY, SLOWLOG) and memory.
 */
import http from 'node:http';
import Redis from 'ioredis';
import { Scrape } from './prom-text';

export function scrapeMetrics(port: number): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(Scrape.parse(Buffer.concat(chunks).toString('utf8')))
          : reject(new Error(`GET /metrics on port ${port} answered ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET /metrics on port ${port} got no answer within 10 s`)));
    req.on('error', reject);
  });
}

export interface RedisSlowMoments {
  /** LATENCY LATEST: events over the monitor's threshold since the last reset (e.g. "command", "fast-command"). */
  latencyEvents: Array<{ event: string; maxMs: number }>;
  /** SLOWLOG entries since the last reset: the command (first word) and how long it ran. */
  slowCommands: Array<{ command: string; ms: number }>;
}

export class RedisProbe {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 2, connectionName: 'bench-probe' });
  }

  get client(): Redis {
    return this.redis;
  }

  /** Forgets earlier slow moments, so the next read covers one run. */
  async reset(): Promise<void> {
    await this.redis.call('LATENCY', 'RESET');
    await this.redis.call('SLOWLOG', 'RESET');
  }

  async slowMoments(): Promise<RedisSlowMoments> {
    const latest = (await this.redis.call('LATENCY', 'LATEST')) as Array<[string, number, number, number]>;
    const slow = (await this.redis.call('SLOWLOG', 'GET', '128')) as Array<[number, number, number, string[]]>;
    return {
      latencyEvents: latest.map(([event, , , max]) => ({ event, maxMs: Number(max) })),
      slowCommands: slow.map(([, , micros, args]) => ({ command: String(args?.[0] ?? '?'), ms: Math.round(Number(micros) / 100) / 10 })),
    };
  }

  /** INFO memory's used_memory, bytes. */
  async usedMemory(): Promise<number> {
    const info = await this.redis.info('memory');
    const m = /^used_memory:(\d+)/m.exec(info);
    return m ? Number(m[1]) : NaN;
  }

  /** Keys matching a pattern (SCAN, so Redis is never blocked). */
  async keys(pattern: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      out.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return out;
  }

  /** MEMORY USAGE of each key (all nested values sampled), summed. */
  async memoryUsage(keys: readonly string[]): Promise<number> {
    let total = 0;
    for (let i = 0; i < keys.length; i += 1000) {
      const pipeline = this.redis.pipeline();
      for (const key of keys.slice(i, i + 1000)) pipeline.call('MEMORY', 'USAGE', key, 'SAMPLES', '0');
      for (const [err, bytes] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        total += Number(bytes ?? 0);
      }
    }
    return total;
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
