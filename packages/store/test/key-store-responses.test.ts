/**
 * What KeyStore serves per origin (DESIGN "What an entry holds" and behaviour 4): the latest stored
 * response and, for each key ID asked that it lacks, the latest response that held that key, each
 * response at most once; a later response never destroys a key; unreferenced responses are deleted.
 *
 * Order, as LookupResult.entries documents it: the older responses first, the latest last (Synapse
 * and sytest read the first entry as the answer for the key asked). `inServedOrder` is the one place
 * that knows this order.
 */
import type Redis from 'ioredis';
import { createRedis, KeyStore, originRecordKey, parseStoredResponse, type OriginQuery } from '@matrix-notary/store';
import { activeKeys, DAY_MS, deleteKeysUnder, HOUR_MS, labelsOf, responseBytes, SECOND_MS, serverNamer, T0_MS, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const PREFIX = uniquePrefix();
const INTERVAL_MS = 60 * SECOND_MS;
const VALID_UNTIL_TS = T0_MS + DAY_MS;

let redis: Redis;
let store: KeyStore;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-responses' });
  store = new KeyStore(redis, { prefix: PREFIX });
});

afterAll(async () => {
  await deleteKeysUnder(redis, PREFIX);
  await redis.quit();
});

const freshServer = serverNamer('origin', ':8448');

/** Stores responseBytes(label) as the origin's latest response, holding keyIds, fetched at T0 + step s. */
async function storeAs(serverName: string, label: string, keyIds: string[], step: number): Promise<void> {
  await store.storeResponse(serverName, responseBytes(label), { validUntilTs: VALID_UNTIL_TS, keys: activeKeys(keyIds) }, T0_MS + step * SECOND_MS, INTERVAL_MS);
}

/** The labels a lookup is expected to serve: the older responses (for keys the latest lacks), then the latest. */
function inServedOrder(latest: string, ...older: string[]): string[] {
  return [...older, latest];
}

async function served(serverName: string, keyIds: string[]): Promise<string[]> {
  const [result] = await store.lookup([{ serverName, keyIds, minValidUntilTs: T0_MS }], T0_MS + HOUR_MS);
  for (const entry of result.entries) expect(Buffer.isBuffer(entry)).toBe(true);
  return labelsOf(result.entries);
}

/** The labels of every response still held in the origin's record (the latest and the older ones). */
async function heldResponses(serverName: string): Promise<string[]> {
  const all = await redis.hgetallBuffer(originRecordKey(PREFIX, serverName));
  const bodies = Object.entries(all)
    .filter(([field]) => field === 'latest' || field.startsWith('r:'))
    .map(([, value]) => parseStoredResponse(value)!.bytes);
  return labelsOf(bodies).sort();
}

describe('KeyStore: storeResponse then lookup', () => {
  it('serves exactly the stored bytes (binary-safe)', async () => {
    const server = freshServer();
    await storeAs(server, 'only', ['ed25519:a'], 0);
    const [result] = await store.lookup([{ serverName: server, keyIds: [], minValidUntilTs: 0 }], T0_MS + 1);
    expect(result.entries).toHaveLength(1);
    expect(result.entries[0].equals(responseBytes('only'))).toBe(true);
  });

  it('serves only the latest response when all keys are asked (empty keyIds), even when older ones are kept', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a'], 0);
    await storeAs(server, 'r2', ['ed25519:b'], 1);
    expect(await heldResponses(server)).toEqual(['r1', 'r2']);
    expect(await served(server, [])).toEqual(inServedOrder('r2'));
  });

  it('serves the latest only when every key asked is in it', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a', 'ed25519:b'], 0);
    await storeAs(server, 'r2', ['ed25519:a', 'ed25519:b'], 1);
    expect(await served(server, ['ed25519:a', 'ed25519:b'])).toEqual(inServedOrder('r2'));
  });

  it('adds to the latest the older response holding a key the latest lacks', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a'], 0);
    await storeAs(server, 'r2', ['ed25519:b'], 1);
    expect(await served(server, ['ed25519:a'])).toEqual(inServedOrder('r2', 'r1'));
    expect(await served(server, ['ed25519:b'])).toEqual(inServedOrder('r2'));
    expect(await served(server, ['ed25519:b', 'ed25519:a'])).toEqual(inServedOrder('r2', 'r1'));
  });

  it('serves one older response per key asked that the latest lacks, and the latest, never the same response twice', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a', 'ed25519:b'], 0);
    await storeAs(server, 'r2', ['ed25519:c'], 1);
    await storeAs(server, 'r3', ['ed25519:d'], 2);

    const entries = await served(server, ['ed25519:a', 'ed25519:b', 'ed25519:a', 'ed25519:c', 'ed25519:d']);
    expect(entries).toHaveLength(3);
    const latestAt = inServedOrder('r3', 'r1', 'r2').indexOf('r3');
    expect(entries[latestAt]).toBe('r3');
    expect(entries.filter((_, i) => i !== latestAt).sort()).toEqual(['r1', 'r2']);
  });

  it('serves, for a key held by several older responses, the latest of them', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a'], 0);
    await storeAs(server, 'r2', ['ed25519:a', 'ed25519:b'], 1);
    await storeAs(server, 'r3', ['ed25519:b'], 2);
    expect(await served(server, ['ed25519:a'])).toEqual(inServedOrder('r3', 'r2'));
  });
});

describe('KeyStore: behaviour 4, a later response never destroys a key', () => {
  it('keeps answering a key the origin no longer lists from the last response that held it', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:old'], 0);
    await storeAs(server, 'r2', ['ed25519:new'], 1);
    await storeAs(server, 'r3', ['ed25519:newer'], 2);

    const [result] = await store.lookup([{ serverName: server, keyIds: ['ed25519:old'], minValidUntilTs: T0_MS }], T0_MS + HOUR_MS);
    expect(labelsOf(result.entries)).toEqual(inServedOrder('r3', 'r1'));
    expect(result.action).toBe('serve');
  });

  it('serves the later response for a key it moved to old_verify_keys (revocation), not the older one', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a'], 0);
    await storeAs(server, 'r2', ['ed25519:b'], 1);
    expect(await served(server, ['ed25519:a'])).toEqual(inServedOrder('r2', 'r1'));

    // r3 lists ed25519:b in verify_keys and ed25519:a in old_verify_keys: both key IDs are passed.
    await storeAs(server, 'r3', ['ed25519:b', 'ed25519:a'], 2);
    expect(await served(server, ['ed25519:a'])).toEqual(inServedOrder('r3'));
    expect(await served(server, ['ed25519:a', 'ed25519:b'])).toEqual(inServedOrder('r3'));
  });
});

describe('KeyStore: garbage collection of responses', () => {
  it('deletes a response once no key and not "latest" refers to it', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a'], 0);
    await storeAs(server, 'r2', ['ed25519:a'], 1);
    expect(await heldResponses(server)).toEqual(['r2']);
  });

  it('keeps an older response while any key still refers to it, and deletes it when the last one moves away', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a', 'ed25519:b'], 0);
    await storeAs(server, 'r2', ['ed25519:b'], 1);
    expect(await heldResponses(server)).toEqual(['r1', 'r2']); // r1 still holds ed25519:a

    await storeAs(server, 'r3', ['ed25519:a', 'ed25519:b'], 2);
    expect(await heldResponses(server)).toEqual(['r3']);
    expect(await served(server, ['ed25519:a', 'ed25519:b'])).toEqual(inServedOrder('r3'));
  });

  it('keeps the latest response even when it holds no key, and deletes it once it is no longer the latest', async () => {
    const server = freshServer();
    await storeAs(server, 'r1', ['ed25519:a'], 0);
    await storeAs(server, 'r2', [], 1);
    expect(await heldResponses(server)).toEqual(['r1', 'r2']);
    expect(await served(server, [])).toEqual(inServedOrder('r2'));

    await storeAs(server, 'r3', ['ed25519:b'], 2);
    expect(await heldResponses(server)).toEqual(['r1', 'r3']);
    expect(await served(server, ['ed25519:a'])).toEqual(inServedOrder('r3', 'r1'));
  });

  it('bounds the record by the keys ever seen: many refreshes of the same keys hold one response', async () => {
    const server = freshServer();
    for (let i = 0; i < 20; i++) await storeAs(server, `r${i}`, ['ed25519:a', 'ed25519:b'], i);
    expect(await heldResponses(server)).toEqual(['r19']);
  });
});

describe('KeyStore: lookup of several origins', () => {
  it('answers each origin with its own responses, in the order asked', async () => {
    const servers = [freshServer(), freshServer(), freshServer()];
    await storeAs(servers[0], 's0', ['ed25519:a'], 0);
    await storeAs(servers[2], 's2', ['ed25519:a'], 0);
    const queries: OriginQuery[] = servers.map((serverName) => ({ serverName, keyIds: [], minValidUntilTs: T0_MS }));
    const results = await store.lookup(queries, T0_MS + 1);
    expect(results.map((r) => labelsOf(r.entries))).toEqual([['s0'], [], ['s2']]);
    expect(results.map((r) => r.action)).toEqual(['serve', 'fetch', 'serve']);
  });

  it('answers an empty list of queries with an empty list', async () => {
    await expect(store.lookup([], T0_MS)).resolves.toEqual([]);
  });
});
