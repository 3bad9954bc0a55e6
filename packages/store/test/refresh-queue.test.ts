/**
 * RefreshQueue: one job per origin however often it is asked for (DESIGN behaviour 2, one fetch per
 * origin at a time across the cluster), job IDs BullMQ accepts for any server name, and a bounded
 * number of waiting jobs so a flood of queries cannot grow the queue without limit.
 */
import { Queue } from 'bullmq';
import type Redis from 'ioredis';
import { bullPrefix, createRedis, REFRESH_QUEUE_NAME, refreshJobId, RefreshQueue, type RefreshJobData } from '@matrix-notary/store';
import { deleteKeysUnder, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const PREFIX = uniquePrefix();

let redis: Redis;
const queues: Array<RefreshQueue | Queue> = [];
/** BullMQ's own view of each RefreshQueue under test: what was really added. */
const views = new Map<RefreshQueue, Queue<RefreshJobData>>();
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
  const prefix = `${PREFIX}:q${queueCounter}`;
  const queue = new RefreshQueue(redis, { prefix, maxWaitingJobs });
  const view = new Queue<RefreshJobData>(REFRESH_QUEUE_NAME, { connection: redis, prefix: bullPrefix(prefix) });
  queues.push(queue, view);
  views.set(queue, view);
  return queue;
}

function viewOf(queue: RefreshQueue): Queue<RefreshJobData> {
  return views.get(queue)!;
}

async function totalJobs(queue: RefreshQueue): Promise<number> {
  const counts = await viewOf(queue).getJobCounts();
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

describe('RefreshQueue.enqueue', () => {
  it('leaves exactly one job when the same origin is asked for 50 times concurrently', async () => {
    const queue = newQueue(1000);
    await Promise.all(Array.from({ length: 50 }, (_, i) => queue.enqueue(['example.org:8448'], i % 2 === 0 ? 'miss' : 'refresh', Date.now())));
    expect(await queue.counts()).toEqual({ waiting: 1, active: 0, delayed: 0 });
    expect(await totalJobs(queue)).toBe(1);

    const [job] = await viewOf(queue).getJobs(['waiting']);
    expect(job.id).toBe(refreshJobId('example.org:8448'));
    expect(job.data.serverName).toBe('example.org:8448');
  });

  it('adds a job for a server name with a port or an IPv6 literal, with an ID free of ":"', async () => {
    const queue = newQueue(1000);
    const requestedAt = 1_700_000_000_000;
    expect(await queue.enqueue(['example.org:8448', '[::1]:8448'], 'miss', requestedAt)).toEqual(['example.org:8448', '[::1]:8448']);
    const jobs = await viewOf(queue).getJobs(['waiting']);
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
    expect((await queue.counts()).waiting).toBe(3);

    const ids = (await viewOf(queue).getJobs(['waiting'])).map((j) => j.id).sort();
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
    expect((await queue.counts()).waiting).toBe(10);
  });
});

describe('RefreshQueue: what the workers\' gauges read', () => {
  it('reports no job and no oldest waiting job for an empty queue', async () => {
    const queue = newQueue(3);
    expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0 });
    expect(await queue.oldestWaitingSince()).toBeUndefined();
  });

  it('reports when the oldest waiting job was added', async () => {
    const queue = newQueue(3);
    await queue.enqueue(['first.example.org'], 'miss', Date.now());
    await queue.enqueue(['second.example.org'], 'miss', Date.now());
    const jobs = await viewOf(queue).getJobs(['waiting']);
    expect(await queue.oldestWaitingSince()).toBe(Math.min(...jobs.map((j) => j.timestamp)));
  });

  it('a handle with no room (a reader) adds nothing', async () => {
    const queue = newQueue(0);
    expect(await queue.enqueue(['reader.example.org'], 'miss', Date.now())).toEqual([]);
    expect(await totalJobs(queue)).toBe(0);
  });

  it('pause holds the queue for every worker until resume', async () => {
    const queue = newQueue(3);
    await queue.pause();
    expect(await viewOf(queue).isPaused()).toBe(true);
    await queue.resume();
    expect(await viewOf(queue).isPaused()).toBe(false);
  });
});
