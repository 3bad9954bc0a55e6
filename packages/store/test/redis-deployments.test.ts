/**
 * The store on the deployments operators run beyond one Redis (issue 11): a Redis Cluster of three
 * masters (hash tags keep each script's keys in one slot, multi-origin reads span nodes, BullMQ's
 * keys share a slot, pub/sub reaches subscribers on any node) and a Sentinel-managed master that
 * fails over while in use (connections follow it; writes, queue and pub/sub keep working).
 */
import { Worker } from 'bullmq';
import { silentLogger, type RedisSettings } from '@matrix-notary/common';
import {
  bullPrefix,
  createRedis,
  FetchEventPublisher,
  FetchWaiter,
  KeyStore,
  originRecordKey,
  RedisConnections,
  REFRESH_QUEUE_NAME,
  RefreshQueue,
  StoredResponses,
  type Redis,
  type RedisClient,
  type RefreshJobData,
} from '@matrix-notary/store';
import { RedisClusterNodes, SentinelGroup, waitFor } from '@matrix-notary/testing';
import { activeKeys, DAY_MS, labelsOf, MINUTE_MS, responseBytes, T0_MS, uniquePrefix } from './redis-test-helpers';

jest.setTimeout(90_000);

const silent = silentLogger();

function settings(partial: Partial<RedisSettings>): RedisSettings {
  return { mode: 'standalone', host: '127.0.0.1', port: 6379, db: 0, tls: false, sentinels: [], sentinelMaster: 'mymaster', clusterNodes: [], ...partial };
}

function withPassword(s: RedisSettings, password: string): RedisSettings {
  const out = { ...s, passwordFrom: 'REDIS_URL' as const };
  Object.defineProperty(out, 'password', { value: password, enumerable: false });
  return out;
}

/** Runs a BullMQ worker over the refresh queue until `count` jobs have run; returns their origins. */
async function drain(connection: RedisClient, prefix: string, count: number): Promise<string[]> {
  const seen: string[] = [];
  let worker: Worker<RefreshJobData> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      worker = new Worker<RefreshJobData>(
        REFRESH_QUEUE_NAME,
        async (job) => {
          seen.push(job.data.serverName);
          if (seen.length === count) resolve();
        },
        { connection, prefix: bullPrefix(prefix), concurrency: 4 },
      );
      worker.on('error', reject);
      setTimeout(() => reject(new Error(`only ${seen.length} of ${count} jobs ran within 30 s`)), 30_000).unref();
    });
  } finally {
    await worker?.close();
  }
  return seen.sort();
}

describe('on a Redis Cluster of three masters', () => {
  let cluster: RedisClusterNodes;
  let clusterSettings: RedisSettings;
  const clients: RedisClient[] = [];
  const client = (blocking = false) => {
    const c = createRedis(clusterSettings, { blocking, connectionName: 'store-test-cluster' });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    cluster = await RedisClusterNodes.start({ masters: 3 });
    clusterSettings = settings({ mode: 'cluster', clusterNodes: cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port })) });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await cluster?.stop();
  });

  test('origins spread over every master, and one lookup reads 60 of them across the nodes', async () => {
    const prefix = uniquePrefix();
    const store = new KeyStore(client(), { prefix });
    // Varied names: CRC16 maps names that differ in one digit to neighbouring slots.
    const names = Array.from({ length: 60 }, (_, i) => `${((i + 1) * 2654435761) % 4294967296}.example.org`);
    for (const [i, name] of names.entries()) {
      await store.storeResponse(name, responseBytes(`origin-${i}`), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    }
    const perNode = await cluster.keysPerNode();
    expect(perNode.every((n) => n > 0)).toBe(true);
    // 60 origin records, and the cluster-wide counts of key-ID bindings (one hash).
    expect(perNode.reduce((a, b) => a + b, 0)).toBe(61);

    const results = await store.lookup(names.map((serverName) => ({ serverName, keyIds: ['ed25519:a'], minValidUntilTs: T0_MS })), T0_MS);
    expect(results.map((r) => labelsOf(r.entries))).toEqual(names.map((_, i) => [`origin-${i}`]));
    expect(results.every((r) => r.action === 'serve')).toBe(true);
    // The other scripts run on the cluster as well (one key each, so one slot each).
    const claim = await store.claimFetch(names[0], T0_MS + 2 * MINUTE_MS, 'job');
    expect(claim.allowed).toBe(true);
    const failure = await store.recordFailure(names[0], T0_MS + 2 * MINUTE_MS, MINUTE_MS, 60 * MINUTE_MS);
    expect(failure.failures).toBe(1);
    expect(await store.endedSince(names.slice(0, 3), T0_MS + MINUTE_MS)).toEqual([true, false, false]);
  });

  test('the re-sign walk visits the origin records of every master, and replaces bytes on each', async () => {
    const prefix = uniquePrefix();
    const redis = client();
    const store = new KeyStore(redis, { prefix });
    const names = Array.from({ length: 30 }, (_, i) => `${((i + 7) * 2654435761) % 4294967296}.resign.example.org`);
    for (const [i, name] of names.entries()) {
      await store.storeResponse(name, responseBytes(`origin-${i}`), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    }
    const responses = new StoredResponses(redis, prefix);
    const found: string[] = [];
    for await (const batch of responses.recordKeys(5)) found.push(...batch);
    expect([...new Set(found)].sort()).toEqual(names.map((n) => originRecordKey(prefix, n)).sort());
    for (const origin of await responses.read([...new Set(found)])) {
      expect(await responses.replace(origin.recordKey, origin.responses[0], responseBytes(`again-${origin.serverName}`))).toBe(true);
    }
    const results = await store.lookup(names.map((serverName) => ({ serverName, keyIds: [], minValidUntilTs: T0_MS })), T0_MS);
    expect(results.map((r) => labelsOf(r.entries))).toEqual(names.map((n) => [`again-${n}`]));
    expect(await responses.lock('one', 10_000)).toBe(true);
    expect(await responses.renewLock('one', 10_000)).toBe(true);
  });

  test('a fetch event published on one node wakes a waiter subscribed through another client', async () => {
    const prefix = uniquePrefix();
    const waiter = new FetchWaiter(client(true), prefix);
    await waiter.start();
    const publisher = new FetchEventPublisher(client(), prefix);
    const woken = waiter.expect(['a.example.org', 'b.example.org'], 20_000);
    let ended = false;
    void woken.done.then(() => (ended = true));
    await publisher.publish('a.example.org', 'stored');
    await publisher.publish('b.example.org', 'failed');
    await waitFor(async () => ended, 'the waiter to be woken', 10_000);
    await waiter.close();
  });

  test("BullMQ's queue keys share one slot, and a worker on the cluster runs every job once", async () => {
    const prefix = uniquePrefix();
    const connection = client();
    const queue = new RefreshQueue(connection, { prefix, maxWaitingJobs: 100 });
    const names = Array.from({ length: 10 }, (_, i) => `q${i}.example.org:8448`);
    await queue.enqueue(names, 'miss', Date.now());
    await queue.enqueue(names, 'miss', Date.now()); // asked again: still one job each
    expect(await drain(client(true), prefix, names.length)).toEqual([...names].sort());
    const keys = [`${bullPrefix(prefix)}:${REFRESH_QUEUE_NAME}:wait`, `${bullPrefix(prefix)}:${REFRESH_QUEUE_NAME}:meta`, `${bullPrefix(prefix)}:${REFRESH_QUEUE_NAME}:1`];
    const slots = await Promise.all(keys.map((k) => (connection as RedisClient).cluster('KEYSLOT', k)));
    expect(new Set(slots).size).toBe(1);
    // Origin records are spread by server name instead.
    const originSlots = await Promise.all(names.map((n) => (connection as RedisClient).cluster('KEYSLOT', originRecordKey(prefix, n))));
    expect(new Set(originSlots).size).toBeGreaterThan(1);
    await queue.close();
  });
});

describe('on a master found through Sentinels, across a failover', () => {
  const PASSWORD = 'sentinel-test-password';
  let group: SentinelGroup;
  let connections: RedisConnections;
  let sentinelSettings: RedisSettings;

  beforeAll(async () => {
    // The Sentinels demand the password as well: RedisConnections must find that out by itself.
    group = await SentinelGroup.start({ password: PASSWORD, sentinelPassword: true });
    sentinelSettings = withPassword(
      settings({ mode: 'sentinel', sentinels: group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), sentinelMaster: group.masterName }),
      PASSWORD,
    );
    connections = await RedisConnections.open(sentinelSettings, { logger: silent, name: 'store-test-sentinel' });
  });

  afterAll(async () => {
    await connections?.close();
    await group?.stop();
    // ioredis's failover detector closes its Sentinel connections with a 2 s grace timer (set again
    // on connections already closed after a failover); let those run out so jest exits cleanly.
    await new Promise((resolve) => setTimeout(resolve, 2100));
  });

  test('stores, queue jobs and fetch events keep working after SENTINEL FAILOVER', async () => {
    const prefix = uniquePrefix();
    const redis = connections.client('store');
    const store = new KeyStore(redis, { prefix });
    const waiter = new FetchWaiter(connections.client('events', { blocking: true }), prefix);
    await waiter.start();
    const publisher = new FetchEventPublisher(redis, prefix);
    const queue = new RefreshQueue(connections.client('queue'), { prefix, maxWaitingJobs: 100 });
    await store.storeResponse('before.example.org', responseBytes('before'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    const oldMaster = await group.masterPort();

    const newMaster = await group.failover();
    expect(newMaster).not.toBe(oldMaster);

    // The connection follows the new master by itself, within seconds. (Writes the old master took
    // before the Sentinels demoted it are lost with it: Redis replication is asynchronous.)
    await waitFor(async () => /tcp_port:(\d+)/.exec(await (redis as Redis).info('server'))?.[1] === String(newMaster), 'the connection to follow the new master', 20_000);
    await store.storeResponse('after.example.org', responseBytes('after'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    const [before, after] = await store.lookup(
      ['before.example.org', 'after.example.org'].map((serverName) => ({ serverName, keyIds: [], minValidUntilTs: T0_MS })),
      T0_MS,
    );
    expect([labelsOf(before.entries), labelsOf(after.entries)]).toEqual([['before'], ['after']]);
    const onNewMaster = group.master.port === newMaster ? group.master : group.replica;
    const admin = onNewMaster.admin();
    expect(await admin.exists(originRecordKey(prefix, 'after.example.org'))).toBe(1);
    admin.disconnect();

    // The subscriber re-subscribed on the new master; the queue adds and runs jobs there.
    const woken = waiter.expect(['after.example.org'], 20_000);
    let ended = false;
    void woken.done.then(() => (ended = true));
    await waitFor(
      async () => {
        await publisher.publish('after.example.org', 'stored');
        return ended;
      },
      'a fetch event to arrive after the failover',
      20_000,
    );
    await queue.enqueue(['job.example.org'], 'miss', Date.now());
    expect(await drain(connections.client('worker', { blocking: true }), prefix, 1)).toEqual(['job.example.org']);
    await queue.close();
    await waiter.close();
  });
});
