/**
 * RefreshQueue: one job per origin however often it is asked for (DESIGN behaviour 2, one fetch per
 * origin at a time across the cluster), job IDs BullMQ accepts for any server name, and a bounded
 * number of waiting jobs so a flood of queries cannot grow the queue without limit.
 */
import type Redis from 'ioredis';
import { bullPrefix, createRedis, refreshJobId, RefreshQueue } from '@matrix-notary/store';
import { deleteKeysUnder, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const PREFIX = uniquePrefix();

let redis: Redis;
const queues: RefreshQueue[] = [];
let queueCounter = 0;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-refresh-queue' });
});

afterAll(async () => {
  await Promise.all(queues.map((q) => q.close()));
  await deleteKeysUnder(redis, PREFIX);
  await redis.quit();
});

/** A queue of its own (its own prefix under this file's), closed after the tests. */
function newQueue(maxWaitingJobs: number): RefreshQueue {
  queueCounter += 1;
  const queue = new RefreshQueue(redis, { prefix: `${PREFIX}:q${queueCounter}`, maxWaitingJobs });
  queues.push(queue);
  return queue;
}

async function totalJobs(queue: RefreshQueue): Promise<number> {
  const counts = await queue.queue.getJobCounts();
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

describe('refreshJobId', () => {
  it.each(['example.org:8448', '[::1]:8448', '[2001:db8::1]:443', '127.0.0.1:8448', 'example.org'])(
    'gives %s an ID without ":" that decodes back to the name',
    (serverName) => {
      const id = refreshJobId(serverName);
      expect(id).not.toContain(':');
      expect(decodeURIComponent(id)).toBe(serverName);
    },
  );

  it('gives different server names different IDs', () => {
    const names = ['example.org', 'example.org:8448', 'example.org:443', '[::1]:8448', '[::1]'];
    expect(new Set(names.map(refreshJobId)).size).toBe(names.length);
  });
});

describe('RefreshQueue.request', () => {
  it('leaves exactly one job when the same origin is asked for 50 times concurrently', async () => {
    const queue = newQueue(1000);
    await Promise.all(Array.from({ length: 50 }, (_, i) => queue.enqueue(['example.org:8448'], i % 2 === 0 ? 'miss' : 'refresh', Date.now())));
    expect(await queue.queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    expect(await totalJobs(queue)).toBe(1);

    const [job] = await queue.queue.getJobs(['waiting']);
    expect(job.id).toBe(refreshJobId('example.org:8448'));
    expect(job.data.serverName).toBe('example.org:8448');
  });

  it('adds a job for a server name with a port or an IPv6 literal, with an ID free of ":"', async () => {
    const queue = newQueue(1000);
    const requestedAt = 1_700_000_000_000;
    expect(await queue.enqueue(['example.org:8448', '[::1]:8448'], 'miss', requestedAt)).toEqual(['example.org:8448', '[::1]:8448']);
    const jobs = await queue.queue.getJobs(['waiting']);
    expect(jobs.map((j) => j.data).sort((a, b) => a.serverName.localeCompare(b.serverName))).toEqual([
      { serverName: '[::1]:8448', reason: 'miss', requestedAt },
      { serverName: 'example.org:8448', reason: 'miss', requestedAt },
    ]);
    for (const job of jobs) {
      expect(job.id).not.toContain(':');
      expect(job.id).toBe(refreshJobId(job.data.serverName));
    }
  });

  it('keeps one job per origin in a batch that names origins several times', async () => {
    const queue = newQueue(1000);
    await queue.enqueue(['a.example.org', 'b.example.org', 'a.example.org'], 'miss', Date.now());
    await queue.enqueue(['b.example.org', 'a.example.org'], 'refresh', Date.now());
    expect(await totalJobs(queue)).toBe(2);
  });

  it('accepts jobs only while fewer than maxWaitingJobs wait, and accepts none when the queue is full', async () => {
    const queue = newQueue(3);
    expect(await queue.enqueue(['a.example.org', 'b.example.org'], 'miss', Date.now())).toEqual(['a.example.org', 'b.example.org']);
    expect(await queue.enqueue(['c.example.org', 'd.example.org', 'e.example.org'], 'miss', Date.now())).toEqual(['c.example.org']);
    expect(await queue.enqueue(['f.example.org'], 'refresh', Date.now())).toEqual([]);
    expect(await queue.queue.getJobCounts('waiting')).toEqual({ waiting: 3 });

    const ids = (await queue.queue.getJobs(['waiting'])).map((j) => j.id).sort();
    expect(ids).toEqual(['a.example.org', 'b.example.org', 'c.example.org'].map(refreshJobId).sort());
  });

  it('accepts nothing and adds nothing for an empty list', async () => {
    const queue = newQueue(3);
    expect(await queue.enqueue([], 'miss', Date.now())).toEqual([]);
    expect(await totalJobs(queue)).toBe(0);
  });

  it('puts its keys under the deployment prefix', async () => {
    const queue = newQueue(3);
    await queue.enqueue(['prefixed.example.org'], 'miss', Date.now());
    const keys = await redis.keys(`${bullPrefix(`${PREFIX}:q${queueCounter}`)}:*`);
    expect(keys.length).toBeGreaterThan(0);
  });
});

describe('RefreshQueue.enqueue: the bound holds under concurrent queries on one pod', () => {
  it('10 concurrent queries of 10 new origins each, with room for 10, leave at most 10 waiting', async () => {
    const queue = newQueue(10);
    const batches = Array.from({ length: 10 }, (_, b) => Array.from({ length: 10 }, (_, i) => `o${b}-${i}.example.org`));
    const queued = await Promise.all(batches.map((names) => queue.enqueue(names, 'miss', Date.now())));
    expect(queued.flat()).toHaveLength(10);
    expect(await queue.queue.getWaitingCount()).toBe(10);
  });
});
