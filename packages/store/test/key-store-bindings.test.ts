/**
 * Key IDs as bindings, as the store enforces them (DESIGN behaviour 12, MSC4499): first seen wins,
 * checked in the same Lua step as the store (two writers can never bind one ID twice); a refused
 * response changes nothing; the history kept per key ID; retired key IDs bounded per origin with
 * MSC4499's eviction order; operator eviction; banned keys never served, even when stored before
 * the ban.
 */
import type Redis from 'ioredis';
import { BannedKeys, parseBannedKeyList, type ResponseKey } from '@matrix-notary/protocol';
import {
  bindingsInHeader,
  headerOf,
  createRedis,
  KeyStore,
  originRecordKey,
  parseBinding,
  parseStoredResponse,
  type Binding,
  type StoreResult,
} from '@matrix-notary/store';
import { active, activeKeys, bodyOf, DAY_MS, deleteKeysUnder, HOUR_MS, labelsOf, responseBytes, retired, SECOND_MS, serverNamer, T0_MS, testRedisUrl, uniquePrefix, unusable } from './redis-test-helpers';

const PREFIX = uniquePrefix();
const INTERVAL_MS = 60 * SECOND_MS;

let redis: Redis;
let store: KeyStore;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-bindings' });
  store = new KeyStore(redis, { prefix: PREFIX });
});

afterAll(async () => {
  await deleteKeysUnder(redis, PREFIX);
  await redis.quit();
});

const freshServer = serverNamer('bind');


function put(server: string, label: string, keys: ResponseKey[], atMs: number, validUntilTs = atMs + DAY_MS, s = store): Promise<StoreResult> {
  return s.storeResponse(server, responseBytes(label), { validUntilTs, keys }, atMs, INTERVAL_MS);
}

async function served(server: string, keyIds: string[], atMs = T0_MS + HOUR_MS, s = store): Promise<string[]> {
  const [result] = await s.lookup([{ serverName: server, keyIds, minValidUntilTs: 0 }], atMs);
  return labelsOf(result.entries);
}

/** Every binding held for the origin, by key ID. */
async function bindings(server: string): Promise<Map<string, Binding>> {
  const all = await redis.hgetallBuffer(originRecordKey(PREFIX, server));
  const out = new Map<string, Binding>();
  if (all.latest) for (const [keyId, b] of bindingsInHeader(headerOf(parseStoredResponse(all.latest)!))) out.set(keyId, b);
  for (const [field, value] of Object.entries(all)) {
    if (field.startsWith('k:')) out.set(field.slice(2), parseBinding(value.toString('latin1'))!);
  }
  return out;
}

describe('first seen wins', () => {
  it('refuses a response giving a bound key ID another body, writes nothing, and keeps serving the last accepted one', async () => {
    const server = freshServer();
    expect((await put(server, 'r1', [active('ed25519:a')], T0_MS)).stored).toBe(true);
    const before = await redis.hgetallBuffer(originRecordKey(PREFIX, server));

    const result = await put(server, 'liar', [active('ed25519:a', 'other body'), active('ed25519:new')], T0_MS + SECOND_MS);
    expect(result).toEqual({
      stored: false,
      collision: { keyId: 'ed25519:a', boundBody: bodyOf('ed25519:a'), offeredBody: bodyOf('ed25519:a', 'other body') },
    });
    expect(await redis.hgetallBuffer(originRecordKey(PREFIX, server))).toEqual(before);
    expect(await served(server, [])).toEqual(['r1']);
    expect([...(await bindings(server)).keys()]).toEqual(['ed25519:a']); // ed25519:new was not bound either
  });

  it('holds after the cached response has expired: a binding is not a cache entry', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:a')], T0_MS, T0_MS + HOUR_MS);
    const [expired] = await store.lookup([{ serverName: server, keyIds: ['ed25519:a'], minValidUntilTs: T0_MS + 2 * HOUR_MS }], T0_MS + 2 * HOUR_MS);
    expect(expired.action).toBe('fetch');
    const result = await put(server, 'liar', [active('ed25519:a', 'other body')], T0_MS + 2 * HOUR_MS);
    expect(result.stored).toBe(false);
    expect(await served(server, ['ed25519:a'], T0_MS + 2 * HOUR_MS)).toEqual(['r1']);
  });

  it('holds for a key ID first seen in old_verify_keys, and for one the origin stopped listing', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:a'), retired('ed25519:old', T0_MS - DAY_MS)], T0_MS);
    await put(server, 'r2', [active('ed25519:b')], T0_MS + SECOND_MS); // a and old are no longer listed
    expect((await put(server, 'x', [active('ed25519:old', 'other')], T0_MS + 2 * SECOND_MS)).stored).toBe(false);
    expect((await put(server, 'y', [retired('ed25519:a', T0_MS, 'other')], T0_MS + 2 * SECOND_MS)).stored).toBe(false);
    expect((await put(server, 'r3', [active('ed25519:b'), retired('ed25519:a', T0_MS)], T0_MS + 3 * SECOND_MS)).stored).toBe(true);
  });

  it('two writers racing to bind one new key ID to two bodies: exactly one wins, every time', async () => {
    const other = createRedis(testRedisUrl(), { connectionName: 'store-test-bindings-2' });
    try {
      const otherStore = new KeyStore(other, { prefix: PREFIX });
      for (let round = 0; round < 30; round++) {
        const server = freshServer();
        const [one, two] = await Promise.all([
          put(server, 'one', [active('ed25519:new', 'one')], T0_MS),
          put(server, 'two', [active('ed25519:new', 'two')], T0_MS, T0_MS + DAY_MS, otherStore),
        ]);
        expect([one.stored, two.stored].sort()).toEqual([false, true]);
        const winner = one.stored ? 'one' : 'two';
        expect((await bindings(server)).get('ed25519:new')!.body).toBe(bodyOf('ed25519:new', winner));
        expect(await served(server, ['ed25519:new'])).toEqual([winner]);
      }
    } finally {
      await other.quit();
    }
  });

  it('an operator eviction lets the next response bind a new body under the same key ID', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:a'), active('ed25519:b')], T0_MS);
    expect((await put(server, 'r2', [active('ed25519:a', 'new')], T0_MS + SECOND_MS)).stored).toBe(false);
    expect(await store.evict(server, 'ed25519:a')).toEqual([{ keyId: 'ed25519:a', body: bodyOf('ed25519:a') }]);
    expect((await put(server, 'r2', [active('ed25519:a', 'new')], T0_MS + 2 * SECOND_MS)).stored).toBe(true);
    expect((await bindings(server)).get('ed25519:a')!.body).toBe(bodyOf('ed25519:a', 'new'));
    expect(await served(server, ['ed25519:b'])).toEqual(['r1', 'r2']); // b is still answered from r1
  });
});

describe('key history', () => {
  it('records first seen, last seen active, when it retired and its first usable expired_ts', async () => {
    const server = freshServer();
    const t = (s: number) => T0_MS + s * SECOND_MS;
    await put(server, 'r1', [active('ed25519:a')], t(0));
    await put(server, 'r2', [active('ed25519:a')], t(10));
    await put(server, 'r3', [active('ed25519:b'), unusable('ed25519:a')], t(20)); // expired_ts too far ahead
    await put(server, 'r4', [active('ed25519:b'), retired('ed25519:a', t(25))], t(30));
    const r5 = await put(server, 'r5', [active('ed25519:b'), retired('ed25519:a', t(26))], t(40));
    expect(r5.stored && r5.expiryChanges).toEqual([{ keyId: 'ed25519:a', recordedTs: t(25), offeredTs: t(26) }]);
    await put(server, 'r6', [active('ed25519:c')], t(50)); // b dropped without old_verify_keys

    const held = await bindings(server);
    expect(held.get('ed25519:a')).toMatchObject({ firstSeenTs: t(0), lastSeenActiveTs: t(10), retiredTs: t(20), expiredTs: t(25), state: 'g' });
    expect(held.get('ed25519:b')).toMatchObject({ firstSeenTs: t(20), lastSeenActiveTs: t(40), retiredTs: t(50), expiredTs: 0, state: 'g' });
    expect(held.get('ed25519:c')).toMatchObject({ firstSeenTs: t(50), lastSeenActiveTs: t(50), retiredTs: 0, state: 'a' });
  });

  it('keeps the bindings of a typical origin inside its latest response: no field per key', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:a')], T0_MS);
    await put(server, 'r2', [active('ed25519:b'), retired('ed25519:a', T0_MS)], T0_MS + SECOND_MS);
    const fields = Object.keys(await redis.hgetallBuffer(originRecordKey(PREFIX, server))).sort();
    expect(fields).toEqual(['fetched', 'latest', 'next']);
  });
});

describe('the last problem (shown by inspect)', () => {
  it('is written only into a record that exists, keeps its TTL, and is cleared by the next stored response', async () => {
    const server = freshServer();
    const key = originRecordKey(PREFIX, server);
    await store.noteProblem(server, T0_MS, 'timeout', 'no answer');
    expect(await redis.exists(key)).toBe(0); // a name never claimed leaves nothing behind
    await store.claimFetch(server, T0_MS, 'job');
    const ttl = await redis.pttl(key);
    await store.noteProblem(server, T0_MS, 'timeout', 'no answer\nat all');
    expect(await redis.hget(key, 'err')).toBe(`${T0_MS} timeout no answer at all`);
    expect(await redis.pttl(key)).toBeGreaterThan(0);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(ttl);
    await put(server, 'r1', [active('ed25519:a')], T0_MS + SECOND_MS);
    expect(await redis.hget(key, 'err')).toBeNull();
  });
});

describe('memory per cached server', () => {
  it('holds a response once: a 1 KB origin response (1.1 KB countersigned) with one key fits in 1.7 KB of Redis memory', async () => {
    const server = freshServer();
    const countersigned = Buffer.alloc(1104, 0x61); // what a 1,000-byte origin response becomes once countersigned
    await store.storeResponse(server, countersigned, { validUntilTs: T0_MS + DAY_MS, keys: [active('ed25519:a_RXGa')] }, T0_MS, INTERVAL_MS);
    const all = await redis.hgetallBuffer(originRecordKey(PREFIX, server));
    expect(Object.values(all).filter((v) => v.includes(countersigned))).toHaveLength(1);
    // 1,592 bytes on Redis 7.0 (the layout before key bindings held the bytes twice: 3,280). The
    // bytes and the header share jemalloc's 1,280-byte class; the hash's three fields cost the rest.
    const usage = Number(await redis.call('MEMORY', 'USAGE', originRecordKey(PREFIX, server), 'SAMPLES', '0'));
    expect(usage).toBeLessThanOrEqual(1700);
  });
});

describe('expired_ts too far ahead (MSC4499: malformed for that key only)', () => {
  it('is not used to answer for that key ID, while the rest of the response serves', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:a'), unusable('ed25519:future')], T0_MS);
    expect(await served(server, ['ed25519:a'])).toEqual(['r1']);
    expect(await served(server, [])).toEqual(['r1']);
    // Asked only for the unusable key: nothing can answer it, so the server is absent.
    const [only] = await store.lookup([{ serverName: server, keyIds: ['ed25519:future'], minValidUntilTs: 0 }], T0_MS + HOUR_MS);
    expect(only).toMatchObject({ entries: [], action: 'fetch' });
    // Asked for both: the usable one answers, and a fetch is wanted for the other.
    const [both] = await store.lookup([{ serverName: server, keyIds: ['ed25519:future', 'ed25519:a'], minValidUntilTs: 0 }], T0_MS + HOUR_MS);
    expect({ entries: labelsOf(both.entries), action: both.action }).toEqual({ entries: ['r1'], action: 'fetch' });
  });

  it('leaves the key answered by the older response that held it usably', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:a')], T0_MS);
    await put(server, 'r2', [active('ed25519:b'), unusable('ed25519:a')], T0_MS + SECOND_MS);
    expect(await served(server, ['ed25519:a'])).toEqual(['r1', 'r2']);
    // Once the origin gives a usable expired_ts, the revoking response answers (behaviour 4).
    await put(server, 'r3', [active('ed25519:b'), retired('ed25519:a', T0_MS)], T0_MS + 2 * SECOND_MS);
    expect(await served(server, ['ed25519:a'])).toEqual(['r3']);
  });
});

describe(`at most 3,000 retired key IDs per origin`, () => {
  it('evicts at 3,000 + 2: never seen active first, oldest retirement first; current keys never', async () => {
    const server = freshServer();
    const t = (s: number) => T0_MS + s * SECOND_MS;
    const spray = Array.from({ length: 2997 }, (_, i) => retired(`ed25519:n${i}`, t(100) + i)); // never seen active
    await put(server, 'r1', [active('ed25519:k1'), active('ed25519:k2'), active('ed25519:k3'), ...spray], t(0));
    // k1 retired with the oldest expired_ts of all, k2 and k3 dropped without a word: 3,000 retired.
    const r2 = await put(server, 'r2', [active('ed25519:cur'), retired('ed25519:k1', 1), ...spray], t(10));
    expect(r2.stored && r2.evicted).toEqual([]);
    // Two more retired key IDs: 3,002. The two oldest never seen active go, though k1 is older.
    const r3 = await put(server, 'r3', [active('ed25519:cur2'), retired('ed25519:cur', t(300)), retired('ed25519:late', t(400))], t(20));
    expect(r3.stored && r3.evicted).toEqual([
      { keyId: 'ed25519:n0', body: bodyOf('ed25519:n0') },
      { keyId: 'ed25519:n1', body: bodyOf('ed25519:n1') },
    ]);

    const held = await bindings(server);
    expect([...held.values()].filter((b) => b.state !== 'a')).toHaveLength(3000);
    for (const kept of ['ed25519:k1', 'ed25519:k2', 'ed25519:k3', 'ed25519:cur', 'ed25519:late', 'ed25519:n2', 'ed25519:n2996']) expect(held.has(kept)).toBe(true);
    expect(held.has('ed25519:n0') || held.has('ed25519:n1')).toBe(false);
    expect(held.get('ed25519:cur2')!.state).toBe('a');
    // Evicted keys are no longer answerable; kept ones are, from the response that held them.
    expect(await served(server, ['ed25519:n0'])).toEqual([]);
    expect(await served(server, ['ed25519:n1', 'ed25519:n2'])).toEqual(['r2', 'r3']);
    expect(await served(server, ['ed25519:k2'])).toEqual(['r1', 'r3']);
    expect(await served(server, ['ed25519:k1'])).toEqual(['r2', 'r3']);
  });

  it('discards a retired key ID offered for the first time below the bound: not bound, not an eviction', async () => {
    const s = new KeyStore(redis, { prefix: PREFIX, maxRetiredKeys: 2 });
    const server = freshServer();
    const first = await put(server, 'r1', [active('ed25519:a'), retired('ed25519:old1', 10), retired('ed25519:old2', 20), retired('ed25519:older', 5)], T0_MS, T0_MS + DAY_MS, s);
    expect(first.stored && { added: first.bindingsAdded, evicted: first.evicted, discarded: first.discarded }).toEqual({ added: 3, evicted: [], discarded: 1 });
    expect((await bindings(server)).has('ed25519:older')).toBe(false);
    // Offered again, it is discarded again, and nothing else changes.
    const again = await put(server, 'r2', [active('ed25519:a'), retired('ed25519:old1', 10), retired('ed25519:old2', 20), retired('ed25519:older', 5)], T0_MS + 1, T0_MS + DAY_MS, s);
    expect(again.stored && { added: again.bindingsAdded, evicted: again.evicted, discarded: again.discarded }).toEqual({ added: 0, evicted: [], discarded: 1 });
  });

  it('counts bindings and evictions cluster-wide', async () => {
    const own = createRedis(testRedisUrl(), { connectionName: 'store-test-bindings-stats' });
    const prefix = uniquePrefix();
    try {
      const s = new KeyStore(own, { prefix, maxRetiredKeys: 2 });
      const server = freshServer();
      await s.storeResponse(server, responseBytes('r1'), { validUntilTs: T0_MS + DAY_MS, keys: [...activeKeys(['ed25519:a', 'ed25519:b']), retired('ed25519:x', 5)] }, T0_MS, 0);
      await s.storeResponse(server, responseBytes('r2'), { validUntilTs: T0_MS + DAY_MS, keys: [active('ed25519:c')] }, T0_MS + 1, 0);
      // a, b (gone from the latest) and x are retired: one over the bound of 2, and x was never active.
      expect(await s.readKeyStats()).toEqual({ bindings: 3, evictedOperator: 0, evictedRetiredLimit: 1, evictedBannedKey: 0 });
      expect((await s.evict(server, 'ed25519:a')).map((d) => d.keyId)).toEqual(['ed25519:a']);
      expect((await s.evict(server)).map((d) => d.keyId).sort()).toEqual(['ed25519:b', 'ed25519:c']);
      expect(await s.readKeyStats()).toEqual({ bindings: 0, evictedOperator: 3, evictedRetiredLimit: 1, evictedBannedKey: 0 });
      expect(await own.exists(originRecordKey(prefix, server))).toBe(0);
    } finally {
      await deleteKeysUnder(own, prefix);
      await own.quit();
    }
  });
});

describe('banned keys are never served', () => {
  it('lets a key ID bound to a banned key be bound anew (a remediated origin republishes it with a throwaway key)', async () => {
    const server = freshServer();
    await put(server, 'r1', [active('ed25519:0', 'leaked')], T0_MS); // bound before the ban list named the key
    const banning = new KeyStore(redis, { prefix: PREFIX, bannedKeys: new BannedKeys(parseBannedKeyList([{ key: bodyOf('ed25519:0', 'leaked') }])) });
    const before = await banning.readKeyStats();
    const result = await put(server, 'r2', [active('ed25519:1'), retired('ed25519:0', T0_MS, 'throwaway')], T0_MS + 1, T0_MS + DAY_MS, banning);
    expect(result.stored && result.unbanned).toEqual([{ keyId: 'ed25519:0', body: bodyOf('ed25519:0', 'leaked') }]);
    expect((await bindings(server)).get('ed25519:0')!.body).toBe(bodyOf('ed25519:0', 'throwaway'));
    const after = await banning.readKeyStats();
    expect(after.evictedBannedKey - before.evictedBannedKey).toBe(1);
    // Any other collision still refuses the response.
    expect((await put(server, 'r3', [active('ed25519:1', 'other')], T0_MS + 2, T0_MS + DAY_MS, banning)).stored).toBe(false);
  });

  it('hides a response stored before the ban named its key; an older response answers for its own key', async () => {
    const server = freshServer();
    // The real bodies matter here: the ban is matched against the stored bytes.
    const bytes = (label: string, keys: Record<string, string>) =>
      Buffer.from(JSON.stringify({ server_keys_for: label, server_name: server, verify_keys: Object.fromEntries(Object.entries(keys).map(([id, key]) => [id, { key }])) }));
    const good = bodyOf('good');
    const leaked = bodyOf('leaked');
    await store.storeResponse(server, bytes('r1', { 'ed25519:good': good }), { validUntilTs: T0_MS + DAY_MS, keys: [{ keyId: 'ed25519:good', body: good, kind: 'active' }] }, T0_MS, 0);
    await store.storeResponse(server, bytes('r2', { 'ed25519:leaked': leaked }), { validUntilTs: T0_MS + DAY_MS, keys: [{ keyId: 'ed25519:leaked', body: leaked, kind: 'active' }] }, T0_MS + 1, 0);

    const banning = new KeyStore(redis, { prefix: PREFIX, bannedKeys: new BannedKeys(parseBannedKeyList([{ key: leaked }])) });
    const look = async (keyIds: string[]) => (await banning.lookup([{ serverName: server, keyIds, minValidUntilTs: 0 }], T0_MS + 2))[0];
    const all = await look([]);
    expect(all).toMatchObject({ entries: [], action: 'fetch' });
    const leakedOnly = await look(['ed25519:leaked']);
    expect(leakedOnly).toMatchObject({ entries: [], action: 'fetch' });
    const goodOnly = await look(['ed25519:good']);
    expect(goodOnly.entries.map((b) => JSON.parse(b.toString()).server_keys_for)).toEqual(['r1']);
    // Without the ban list, both are served as before.
    expect((await store.lookup([{ serverName: server, keyIds: ['ed25519:good'], minValidUntilTs: 0 }], T0_MS + 2))[0].entries).toHaveLength(2);
  });
});
