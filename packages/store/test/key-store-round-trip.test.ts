/**
 * The hot path's budget (DESIGN "Performance budget"): a query for many servers costs one Redis round
 * trip. Checked from both ends: the client writes the whole lookup to its socket once, and the server
 * sees exactly one HMGET per origin and nothing else from that connection (no script on a hit).
 */
import type Redis from 'ioredis';
import { createRedis, KeyStore, originRecordKey, type OriginQuery } from '@matrix-notary/store';
import { activeKeys, deleteKeysUnder, DAY_MS, labelsOf, MINUTE_MS, responseBytes, T0_MS, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const PREFIX = uniquePrefix();
const ORIGIN_COUNT = 100;

let redis: Redis;
let store: KeyStore;
const monitors: Redis[] = [];

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-round-trip' });
  store = new KeyStore(redis, { prefix: PREFIX });
});

afterAll(async () => {
  await deleteKeysUnder(redis, PREFIX);
  for (const monitor of monitors.splice(0)) monitor.disconnect(); // those a failed test left open
  await redis.quit();
});

function serverName(i: number): string {
  return `rt${i}.example.org`;
}

/** Every third origin has nothing stored; the others hold one response each, labelled by index. */
async function seed(): Promise<OriginQuery[]> {
  const queries: OriginQuery[] = [];
  for (let i = 0; i < ORIGIN_COUNT; i++) {
    if (i % 3 !== 0) {
      await store.storeResponse(serverName(i), responseBytes(`origin-${i}`), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    }
    queries.push({ serverName: serverName(i), keyIds: i % 2 === 0 ? [] : ['ed25519:a'], minValidUntilTs: T0_MS });
  }
  return queries;
}

interface MonitoredCommand {
  name: string;
  args: string[];
}

/** Starts MONITOR and returns the commands that `client` sends from now on. */
async function monitorClient(client: Redis): Promise<{ commands: MonitoredCommand[]; stop: () => void }> {
  const clientAddress = `127.0.0.1:${client.stream.localPort}`;
  const monitor = await client.monitor();
  monitors.push(monitor);
  const commands: MonitoredCommand[] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === clientAddress) commands.push({ name: args[0].toLowerCase(), args: args.slice(1) });
  });
  // A connection in monitoring mode accepts no command, QUIT included: it is closed by disconnect,
  // once (a second disconnect keeps the process alive for a while).
  const stop = () => {
    const i = monitors.indexOf(monitor);
    if (i < 0) return;
    monitors.splice(i, 1);
    monitor.disconnect();
  };
  return { commands, stop };
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

describe('KeyStore.lookup of many origins', () => {
  it(`answers ${ORIGIN_COUNT} origins correctly and in the order asked`, async () => {
    const queries = await seed();
    const results = await store.lookup(queries, T0_MS + 1);
    expect(results).toHaveLength(ORIGIN_COUNT);
    results.forEach((result, i) => {
      if (i % 3 === 0) {
        expect({ i, action: result.action, entries: result.entries }).toEqual({ i, action: 'fetch', entries: [] });
      } else {
        expect({ i, action: result.action, entries: labelsOf(result.entries) }).toEqual({ i, action: 'serve', entries: [`origin-${i}`] });
      }
    });
  });

  it(`uses one round trip for ${ORIGIN_COUNT} origins: one socket write, ${ORIGIN_COUNT} HMGETs, nothing else`, async () => {
    const queries = await seed();
    await store.lookup(queries.slice(0, 2), T0_MS + 1); // the connection is up and warm
    await redis.ping();

    const { commands, stop } = await monitorClient(redis);
    const write = jest.spyOn(redis.stream, 'write');
    let socketWrites: number;
    let results;
    try {
      results = await store.lookup(queries, T0_MS + 1);
      socketWrites = write.mock.calls.length;
    } finally {
      write.mockRestore();
    }
    await redis.ping(); // MONITOR shows this after every command of the lookup
    await until(() => commands.some((c) => c.name === 'ping'), 5000);
    stop();

    expect(results.map((r) => r.entries.length)).toEqual(queries.map((_, i) => (i % 3 === 0 ? 0 : 1)));
    expect(socketWrites).toBe(1);

    const lookupCommands = commands.slice(0, commands.findIndex((c) => c.name === 'ping'));
    expect(lookupCommands.map((c) => c.name)).toEqual(Array(ORIGIN_COUNT).fill('hmget'));
    // HMGET key field ...: one per origin, in order.
    expect(lookupCommands.map((c) => c.args[0])).toEqual(queries.map((q) => originRecordKey(PREFIX, q.serverName)));
  });
});
