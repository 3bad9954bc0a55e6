/**
 * StoredResponses: what the worker's re-sign sweep reads and writes. The walk finds every origin
 * record under the prefix (and only those); a replacement changes a stored response's bytes and
 * nothing else, and only while that response is still stored as it was read (replace-response-1.lua);
 * the sweep's lock is one holder's at a time.
 */
import type Redis from 'ioredis';
import { createRedis, KeyStore, originRecordKey, parseStoredResponse, StoredResponses } from '@matrix-notary/store';
import { active, DAY_MS, deleteKeysUnder, HOUR_MS, labelsOf, responseBytes, SECOND_MS, serverNamer, T0_MS, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const INTERVAL_MS = 60 * SECOND_MS;
let redis: Redis;
const prefixes: string[] = [];

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-stored-responses' });
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeysUnder(redis, p);
  await redis.quit();
});

function fresh(label = ''): { prefix: string; store: KeyStore; responses: StoredResponses } {
  const prefix = `${uniquePrefix()}${label}`;
  prefixes.push(prefix);
  return { prefix, store: new KeyStore(redis, { prefix }), responses: new StoredResponses(redis, prefix) };
}

const server = serverNamer('resign', ':8448');
const store1 = (store: KeyStore, name: string, label: string, keyIds: string[], atMs = T0_MS) =>
  store.storeResponse(name, responseBytes(label), { validUntilTs: atMs + DAY_MS, keys: keyIds.map((k) => active(k)) }, atMs, INTERVAL_MS);

async function walk(responses: StoredResponses, batchSize: number): Promise<string[][]> {
  const batches: string[][] = [];
  for await (const batch of responses.recordKeys(batchSize)) batches.push(batch);
  return batches;
}

test('the walk finds every origin record under the prefix, and none of another prefix (glob characters in it match only themselves)', async () => {
  const a = fresh('[x]*');
  const b = fresh();
  const names = Array.from({ length: 25 }, () => server());
  for (const name of names) await store1(a.store, name, `a-${name}`, ['ed25519:a1']);
  await store1(b.store, server(), 'b', ['ed25519:a1']);
  // Another prefix that the unescaped glob `<prefix>[x]*` would match.
  const lookalike = `${a.prefix.slice(0, -4)}x`;
  prefixes.push(lookalike);
  await store1(new KeyStore(redis, { prefix: lookalike }), server(), 'lookalike', ['ed25519:a1']);
  // Not an origin record: the key stats hash lives under the same prefix.
  expect(await redis.exists(`${a.prefix}:key-stats`)).toBe(1);

  const batches = await walk(a.responses, 10);
  const found = [...new Set(batches.flat())].sort();
  expect(found).toEqual(names.map((n) => originRecordKey(a.prefix, n)).sort());
  const read = await a.responses.read(found);
  expect(read.map((o) => o.serverName).sort()).toEqual([...names].sort());
  expect(read.every((o) => labelsOf(o.responses.map((r) => r.bytes))[0] === `a-${o.serverName}`)).toBe(true);
});

test('a record with older responses is read latest first, then each r:<id>', async () => {
  const { prefix, store, responses } = fresh();
  const name = server();
  await store1(store, name, 'first', ['ed25519:a1']);
  await store1(store, name, 'second', ['ed25519:a2'], T0_MS + HOUR_MS); // a1 now answered by r:1
  const [origin] = await responses.read([originRecordKey(prefix, name)]);
  expect(origin.responses.map((r) => r.id)).toEqual([2, 1]);
  expect(labelsOf(origin.responses.map((r) => r.bytes))).toEqual(['second', 'first']);
});

describe('replace', () => {
  test('changes the bytes of the response and nothing else of the record', async () => {
    const { prefix, store, responses } = fresh();
    const name = server();
    await store1(store, name, 'first', ['ed25519:a1']);
    await store1(store, name, 'second', ['ed25519:a2'], T0_MS + HOUR_MS);
    const key = originRecordKey(prefix, name);
    const before = await redis.hgetallBuffer(key);
    const [origin] = await responses.read([key]);

    expect(await responses.replace(key, origin.responses[0], responseBytes('second, signed again'))).toBe(true);
    expect(await responses.replace(key, origin.responses[1], responseBytes('first, signed again'))).toBe(true);

    const after = await redis.hgetallBuffer(key);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const field of Object.keys(before)) {
      if (field === 'latest' || field.startsWith('r:')) {
        const [was, is] = [parseStoredResponse(before[field])!, parseStoredResponse(after[field])!];
        // The header (ID, validity, fetch time, the bindings of the latest's key IDs) is untouched.
        expect(is.value.subarray(0, is.headerEnd).equals(was.value.subarray(0, was.headerEnd))).toBe(true);
      } else {
        expect(after[field].equals(before[field])).toBe(true);
      }
    }
    const [latest] = await store.lookup([{ serverName: name, keyIds: ['ed25519:a1', 'ed25519:a2'], minValidUntilTs: 0 }], T0_MS + HOUR_MS);
    expect(labelsOf(latest.entries)).toEqual(['first, signed again', 'second, signed again']);
  });

  /** One origin with one stored response ('first'), read as the sweep reads it. */
  async function oneRead() {
    const { prefix, store, responses } = fresh();
    const name = server();
    const key = originRecordKey(prefix, name);
    await store1(store, name, 'first', ['ed25519:a1']);
    const [read] = await responses.read([key]);
    return { store, responses, name, key, read };
  }

  test('finds the response where a store moved it meanwhile (latest → r:<id>)', async () => {
    const { store, responses, name, key, read } = await oneRead();
    await store1(store, name, 'second', ['ed25519:a2'], T0_MS + HOUR_MS);
    expect(await responses.replace(key, read.responses[0], responseBytes('first, signed again'))).toBe(true);
    const [now] = await responses.read([key]);
    expect(labelsOf(now.responses.map((r) => r.bytes))).toEqual(['second', 'first, signed again']);
  });

  test('writes nothing when the response was dropped, or another took its ID, since it was read', async () => {
    const { store, responses, name, key, read } = await oneRead();

    await store.evict(name);
    expect(await responses.replace(key, read.responses[0], responseBytes('signed again'))).toBe(false);
    expect(await redis.exists(key)).toBe(0);

    // Stored anew after the eviction: the same ID (1) but another fetch time and other bytes.
    await store1(store, name, 'after eviction', ['ed25519:a1'], T0_MS + HOUR_MS);
    expect(await responses.replace(key, read.responses[0], responseBytes('signed again'))).toBe(false);
    const [now] = await responses.read([key]);
    expect(labelsOf(now.responses.map((r) => r.bytes))).toEqual(['after eviction']);
  });
});

describe('the sweep lock and tag', () => {
  test('one holder at a time; only the holder renews or releases it', async () => {
    const { responses } = fresh();
    expect(await responses.lock('one', 10_000)).toBe(true);
    expect(await responses.lock('two', 10_000)).toBe(false);
    expect(await responses.renewLock('two', 10_000)).toBe(false);
    await responses.unlock('two');
    expect(await responses.lock('two', 10_000)).toBe(false);
    expect(await responses.renewLock('one', 10_000)).toBe(true);
    await responses.unlock('one');
    expect(await responses.lock('two', 10_000)).toBe(true);
  });

  test('a lock nobody renews expires', async () => {
    const { responses } = fresh();
    expect(await responses.lock('one', 1)).toBe(true);
    for (let i = 0; i < 50 && !(await responses.lock('two', 10_000)); i++) await new Promise((r) => setTimeout(r, 5));
    expect(await responses.renewLock('one', 10_000)).toBe(false);
    expect(await responses.renewLock('two', 10_000)).toBe(true);
  });

  test('the tag the last sweep reached is kept', async () => {
    const { responses } = fresh();
    expect(await responses.sweptTag()).toBeUndefined();
    await responses.setSweptTag('ed25519:a=AAA ed25519:b=BBB');
    expect(await responses.sweptTag()).toBe('ed25519:a=AAA ed25519:b=BBB');
  });
});
