/**
 * The query path end to end: real api and worker instances, the test Redis, real HTTPS origins.
 * Each DESIGN behaviour (1–7) and each sytest notary scenario has a test here.
 */
import { decodeBase64, encodeCanonicalJson, verifyJsonSignature } from '@matrix-notary/protocol';
import { FakeOrigin } from '@matrix-notary/testing';
import { HOT_ENTRY_TTL_MS } from '../src';
import { counterValue, getJson, NOTARY_NAME, postQuery, useTestBed, type Notary } from './notary-harness';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

const { notary, origin } = useTestBed();

async function notaryPublicKey(n: Notary): Promise<{ keyId: string; key: Uint8Array }> {
  const own = JSON.parse((await n.signer.ownKeys()).bytes.toString());
  const [keyId] = Object.keys(own.verify_keys);
  return { keyId, key: decodeBase64(own.verify_keys[keyId].key) };
}

/** Asserts an entry is signed by the origin (with the given key) and by the notary, and nothing else. */
async function expectCountersigned(n: Notary, entry: any, o: FakeOrigin, originKeyId: string) {
  const originKey = [...o.current, ...o.old.map((x) => x.key)].find((k) => k.keyId === originKeyId)!;
  expect(verifyJsonSignature(entry, o.serverName, originKeyId, originKey.pair.publicKey)).toBe(true);
  const notaryKey = await notaryPublicKey(n);
  expect(verifyJsonSignature(entry, NOTARY_NAME, notaryKey.keyId, notaryKey.key)).toBe(true);
  expect(Object.keys(entry.signatures).sort()).toEqual([NOTARY_NAME, o.serverName].sort());
}

/** Servers of queries by how they were answered: hit, fetch (a fetch was waited for) or stale. */
function servedAs(n: Notary, result: 'hit' | 'fetch' | 'stale'): Promise<number> {
  return counterValue(n.registries, 'matrix_notary_query_servers_total', { result });
}

/** Polls `cond` every 20 ms until it holds, for at most 5 s. */
async function waitUntil(cond: () => boolean | Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

function query(n: Notary, serverName: string, keyIds: string[] = [], minValidUntilTs?: number, api = 0) {
  const criteria: Record<string, unknown> = {};
  for (const k of keyIds) criteria[k] = minValidUntilTs === undefined ? {} : { minimum_valid_until_ts: minValidUntilTs };
  return postQuery(n.url('/_matrix/key/v2/query', api), { server_keys: { [serverName]: criteria } });
}

describe('sytest scenarios (tests/50federation/01keys.pl)', () => {
  test('allows unsigned requests for keys: /_matrix/key/v2/server is canonical JSON signed by the notary', async () => {
    const n = await notary();
    const res = await fetch(n.url('/_matrix/key/v2/server'));
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(text).toBe(encodeCanonicalJson(body));
    expect(body.server_name).toBe(NOTARY_NAME);
    expect(Object.keys(body.verify_keys)).toHaveLength(1);
    expect(body.old_verify_keys).toEqual({});
    const { keyId, key } = await notaryPublicKey(n);
    expect(verifyJsonSignature(body, NOTARY_NAME, keyId, key)).toBe(true);
    // The deprecated form with a key ID answers the same.
    const legacy = await getJson(n.url(`/_matrix/key/v2/server/${encodeURIComponent(keyId)}`));
    expect(legacy.status).toBe(200);
    expect(legacy.json.verify_keys).toEqual(body.verify_keys);
  });

  test('can act as a notary server via a GET request', async () => {
    const n = await notary();
    const o = await origin();
    const res = await getJson(n.url(`/_matrix/key/v2/query/${o.serverName}/ed25519:a1`));
    expect(res.status).toBe(200);
    expect(res.json.server_keys).toHaveLength(1);
    const entry = res.json.server_keys[0];
    expect(entry.server_name).toBe(o.serverName);
    expect(entry.verify_keys['ed25519:a1'].key).toBe(o.current[0].publicKeyBase64);
    await expectCountersigned(n, entry, o, 'ed25519:a1');
  });

  test('can act as a notary server via a POST request', async () => {
    const n = await notary();
    const o = await origin();
    const res = await query(n, o.serverName, ['ed25519:a1']);
    expect(res.status).toBe(200);
    expect(res.json.server_keys).toHaveLength(1);
    await expectCountersigned(n, res.json.server_keys[0], o, 'ed25519:a1');
  });

  test("should return an expired key if it can't find any others (NOTARY_MIN_KEY_VALIDITY_S=0)", async () => {
    const n = await notary({ env: { NOTARY_MIN_KEY_VALIDITY_S: '0' } });
    const o = await origin();
    const expiry = Date.now() - DAY_MS;
    o.validUntilTs = expiry;
    const first = await query(n, o.serverName, ['ed25519:a1'], expiry);
    expect(first.json.server_keys).toHaveLength(1);
    expect(first.json.server_keys[0].valid_until_ts).toBe(expiry);
    // Now the origin fails; asking for a later validity still returns the expired key.
    o.mode = 'garbage';
    const fetchesBefore = o.fetches;
    const second = await query(n, o.serverName, ['ed25519:a1'], expiry + 1000);
    expect(o.fetches).toBe(fetchesBefore + 1);
    expect(second.json.server_keys).toHaveLength(1);
    expect(second.json.server_keys[0].verify_keys).toHaveProperty(['ed25519:a1']);
    expect(second.json.server_keys[0].valid_until_ts).toBe(expiry);
  });

  test('must not overwrite a valid key with a spurious result from the origin server', async () => {
    const n = await notary({ env: { NOTARY_MIN_KEY_VALIDITY_S: '0' } });
    const o = await origin();
    const key1Expiry = Date.now() - DAY_MS;
    o.current = [FakeOrigin.newKey('ed25519:key_1')];
    o.validUntilTs = key1Expiry;
    const first = await query(n, o.serverName, ['ed25519:key_1']);
    expect(Object.keys(first.json.server_keys[0].verify_keys)).toEqual(['ed25519:key_1']);
    // The origin forgets key_1 and answers with key_2 only.
    o.current = [FakeOrigin.newKey('ed25519:key_2')];
    o.validUntilTs = key1Expiry + 1000;
    await query(n, o.serverName, ['ed25519:key_1'], Date.now());
    expect(o.fetches).toBe(2);
    const third = await query(n, o.serverName, ['ed25519:key_1'], key1Expiry);
    const first3 = third.json.server_keys[0];
    expect(first3.server_name).toBe(o.serverName);
    expect(Object.keys(first3.verify_keys)).toEqual(['ed25519:key_1']);
  });
});

describe('DESIGN behaviours', () => {
  test('1: a cached response valid long enough is served from cache without contacting the origin', async () => {
    const n = await notary();
    const o = await origin();
    await query(n, o.serverName);
    expect(o.fetches).toBe(1);
    o.mode = 'offline';
    const res = await query(n, o.serverName, ['ed25519:a1'], o.validUntilTs - 1000);
    expect(res.json.server_keys).toHaveLength(1);
    expect(o.fetches).toBe(1);
    // GET forms too, including the seed's path form with minimum_valid_until_ts in the path.
    const seedForm = await getJson(n.url(`/_matrix/key/v2/query/${o.serverName}/ed25519:a1/${o.validUntilTs - 1000}`));
    expect(seedForm.json.server_keys).toHaveLength(1);
    const paramForm = await getJson(n.url(`/_matrix/key/v2/query/${o.serverName}?minimum_valid_until_ts=${o.validUntilTs}`));
    expect(paramForm.json.server_keys).toHaveLength(1);
    expect(o.fetches).toBe(1);
  });

  test('2: a GET /query/{server} without key IDs fetches a server the notary has never seen', async () => {
    const n = await notary();
    const o = await origin();
    const res = await getJson(n.url(`/_matrix/key/v2/query/${o.serverName}`));
    expect(o.fetches).toBe(1);
    expect(res.json.server_keys).toHaveLength(1);
    await expectCountersigned(n, res.json.server_keys[0], o, 'ed25519:a1');
  });

  test('2: a response too old for minimum_valid_until_ts is refetched and the fresh one served', async () => {
    const n = await notary();
    const o = await origin();
    await query(n, o.serverName);
    const newValidity = o.validUntilTs + DAY_MS;
    o.validUntilTs = newValidity;
    const res = await query(n, o.serverName, ['ed25519:a1'], newValidity - 1000);
    expect(o.fetches).toBe(2);
    expect(res.json.server_keys).toHaveLength(1);
    expect(res.json.server_keys[0].valid_until_ts).toBe(newValidity);
  });

  test('2: a query arriving while another pod fetches the origin waits for that fetch', async () => {
    const n = await notary({ apis: 2, env: { NOTARY_ORIGIN_MIN_INTERVAL_S: '600' } });
    const o = await origin();
    const release = o.hold(); // the fetch stays in flight until both queries wait for it
    const first = query(n, o.serverName, ['ed25519:a1'], undefined, 0);
    // Ask the other pod once the worker holds the origin (its fetch is under way).
    expect(await waitUntil(() => o.fetches === 1)).toBe(true);
    const second = query(n, o.serverName, ['ed25519:a1'], undefined, 1);
    // Both pods decided to wait for a fetch (none served nothing as stale), and only then does the
    // origin answer: the second query can only have its keys from the first one's fetch.
    expect(await waitUntil(async () => (await servedAs(n, 'fetch')) === 2)).toBe(true);
    release();
    expect((await second).json.server_keys).toHaveLength(1);
    expect((await first).json.server_keys).toHaveLength(1);
    expect(o.fetches).toBe(1);
    expect(await servedAs(n, 'stale')).toBe(0);
  });

  test('2: when the origin may not be contacted yet, the stored answer comes at once', async () => {
    const n = await notary({ env: { NOTARY_ORIGIN_MIN_INTERVAL_S: '600', NOTARY_FETCH_WAIT_MS: '5000' } });
    const o = await origin();
    await query(n, o.serverName);
    const res = await query(n, o.serverName, ['ed25519:a1'], o.validUntilTs + DAY_MS);
    expect(o.fetches).toBe(1);
    expect(res.json.server_keys).toHaveLength(1);
    // Served as stale, with no fetch asked for (the first query's only): nothing to wait for.
    expect(await servedAs(n, 'stale')).toBe(1);
    expect(await counterValue(n.registries, 'matrix_notary_refresh_requests_total')).toBe(1);
  });

  test.each(['offline', 'garbage', 'hang'] as const)('3: an origin that is %s gets its last stored response served, even expired', async (mode) => {
    const n = await notary({ env: { NOTARY_MIN_KEY_VALIDITY_S: '0', NOTARY_FETCH_WAIT_MS: '1500', NOTARY_ORIGIN_TIMEOUT_MS: '1000' } });
    const o = await origin();
    o.validUntilTs = Date.now() - HOUR_MS;
    await query(n, o.serverName);
    o.mode = mode;
    const res = await query(n, o.serverName, ['ed25519:a1']);
    expect(o.fetches).toBe(2);
    expect(res.json.server_keys).toHaveLength(1);
    expect(res.json.server_keys[0].valid_until_ts).toBe(o.validUntilTs);
  });

  test('3: an origin that never answered is simply absent from server_keys', async () => {
    const n = await notary({ env: { NOTARY_FETCH_WAIT_MS: '1500' } });
    const o = await origin();
    const good = await origin();
    o.mode = 'offline';
    const res = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [o.serverName]: {}, [good.serverName]: {} } });
    expect(res.status).toBe(200);
    expect(res.json.server_keys.map((e: any) => e.server_name)).toEqual([good.serverName]);
  });

  test('4: a key the origin no longer lists is answered from the last response that held it', async () => {
    const n = await notary();
    const o = await origin();
    await query(n, o.serverName);
    o.current = [FakeOrigin.newKey('ed25519:b2')]; // a1 vanishes without a trace
    o.validUntilTs += DAY_MS;
    await query(n, o.serverName, ['ed25519:b2']);
    expect(o.fetches).toBe(2);
    const res = await query(n, o.serverName, ['ed25519:a1', 'ed25519:b2']);
    const keysPerEntry = res.json.server_keys.map((e: any) => Object.keys(e.verify_keys));
    expect(keysPerEntry).toEqual([['ed25519:a1'], ['ed25519:b2']]);
    expect(o.fetches).toBe(2);
  });

  test('4: a revoked key (moved to old_verify_keys with expired_ts) is served from the revoking response', async () => {
    const n = await notary();
    const o = await origin();
    await query(n, o.serverName);
    const revokedAt = Date.now() - 1000;
    o.rotate('ed25519:b2', revokedAt);
    o.validUntilTs += DAY_MS;
    await query(n, o.serverName, ['ed25519:b2']);
    const res = await query(n, o.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toHaveLength(1);
    expect(res.json.server_keys[0].old_verify_keys['ed25519:a1'].expired_ts).toBe(revokedAt);
  });

  describe('5: refused origin responses are not stored', () => {
    const cases: Array<[string, (o: FakeOrigin) => void, string]> = [
      ['server_name is not the server asked', (o) => (o.claimedName = '127.0.0.1:1'), 'wrong_server_name'],
      ['a verify key is malformed', (o) => (o.override = () => o.sign({ ...o.unsignedResponse(), verify_keys: { 'ed25519:a1': { key: 'not base64!' } } })), 'malformed_verify_key'],
      ['no signature at all', (o) => (o.override = () => o.unsignedResponse()), 'no_valid_signature'],
      ['a signature by its key fails', (o) => (o.override = () => {
        const signed = o.sign(o.unsignedResponse()) as any;
        signed.valid_until_ts += 1; // signed bytes no longer match
        return signed;
      }), 'bad_signature'],
      ['valid for less than an hour', (o) => (o.validUntilTs = Date.now() + HOUR_MS / 2), 'expires_too_soon'],
      ['not canonical-JSON representable (a float)', (o) => {
        o.extraFields = { ratio: 1 };
        o.rawBody = () => encodeCanonicalJson(o.response()).replace('"ratio":1', '"ratio":1.0');
      }, 'not_canonical_json'],
      ['not canonical-JSON representable (an integer beyond 2^53)', (o) => {
        o.extraFields = { big: 1 };
        o.rawBody = () => encodeCanonicalJson(o.response()).replace('"big":1', '"big":9007199254740993');
      }, 'not_canonical_json'],
    ];
    test.each(cases)('%s', async (_name, spoil, reason) => {
      const n = await notary();
      const o = await origin();
      spoil(o);
      const res = await query(n, o.serverName);
      expect(o.fetches).toBe(1);
      expect(res.json.server_keys).toEqual([]);
      expect(await counterValue(n.registries, 'matrix_notary_origin_responses_refused_total', { reason })).toBe(1);
    });

    test('signatures by key IDs not in verify_keys are ignored; unknown fields are kept', async () => {
      const n = await notary();
      const o = await origin();
      o.extraFields = { 'org.example.extra': { nested: true } };
      const stranger = FakeOrigin.newKey('ed25519:elsewhere');
      o.override = () => o.sign(o.sign(o.unsignedResponse()), [stranger]);
      const res = await query(n, o.serverName);
      expect(res.json.server_keys).toHaveLength(1);
      expect(res.json.server_keys[0]['org.example.extra']).toEqual({ nested: true });
      expect(res.json.server_keys[0].signatures[o.serverName]).toHaveProperty(['ed25519:elsewhere']);
    });
  });

  test('6: an origin is contacted at most once per interval, and backs off after failures', async () => {
    const n = await notary({ env: { NOTARY_ORIGIN_MIN_INTERVAL_S: '30', NOTARY_FETCH_WAIT_MS: '1500' } });
    const o = await origin();
    o.mode = 'garbage';
    await query(n, o.serverName);
    expect(o.fetches).toBe(1);
    o.mode = 'normal';
    const res = await query(n, o.serverName);
    expect(o.fetches).toBe(1); // backing off: not contacted again, nothing stored to serve
    expect(res.json.server_keys).toEqual([]);
    const refusals = await counterValue(n.registries, 'matrix_notary_origin_responses_refused_total', { reason: 'not_json' });
    expect(refusals).toBe(1);
  });

  test('7: an origin on a loopback address is refused unless allowed', async () => {
    const n = await notary({ env: { NOTARY_ALLOWED_ADDRESSES: '', NOTARY_FETCH_WAIT_MS: '1500' } });
    const o = await origin();
    const res = await query(n, o.serverName);
    expect(res.json.server_keys).toEqual([]);
    expect(o.fetches).toBe(0);
    expect(n.logs.join('')).toMatch(/forbidden|not allowed|private|loopback/i);
  });

  test("a query for the notary's own name is answered from its own keys, without a fetch", async () => {
    const n = await notary();
    const res = await query(n, NOTARY_NAME);
    expect(res.json.server_keys).toHaveLength(1);
    expect(res.json.server_keys[0].server_name).toBe(NOTARY_NAME);
    const { keyId, key } = await notaryPublicKey(n);
    expect(verifyJsonSignature(res.json.server_keys[0], NOTARY_NAME, keyId, key)).toBe(true);
  });
});

describe('in-pod copies of hot entries', () => {
  test("a response stored through one api pod replaces another pod's in-memory copy at once", async () => {
    const n = await notary({ apis: 2, env: { NOTARY_ORIGIN_MIN_INTERVAL_S: '0' } });
    const o = await origin();
    const first = await query(n, o.serverName, [], undefined, 0);
    expect(first.json.server_keys[0].valid_until_ts).toBe(o.validUntilTs);
    const copiedAt = Date.now();
    await query(n, o.serverName, [], undefined, 1); // pod 1 now holds a copy (for HOT_ENTRY_TTL_MS)
    const newValidity = o.validUntilTs + DAY_MS;
    o.validUntilTs = newValidity;
    // Pod 0 is asked for a later validity: it fetches, and the worker announces the new response.
    const refreshed = await query(n, o.serverName, ['ed25519:a1'], newValidity - 1000, 0);
    expect(refreshed.json.server_keys[0].valid_until_ts).toBe(newValidity);
    // Pod 1 hears the announcement a moment later (its own subscription) and drops its copy: it
    // serves the new response well before the copy would have expired by itself.
    let served = 0;
    while (Date.now() < copiedAt + HOT_ENTRY_TTL_MS - 200) {
      served = (await query(n, o.serverName, [], undefined, 1)).json.server_keys[0].valid_until_ts;
      if (served === newValidity) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(served).toBe(newValidity);
    expect(o.fetches).toBe(2);
  });
});

describe('one fetch per origin across the cluster', () => {
  test('50 concurrent queries for a new origin through 2 api and 2 worker instances cause exactly one fetch', async () => {
    const n = await notary({ apis: 2, workers: 2, env: { NOTARY_ORIGIN_MIN_INTERVAL_S: '0' } });
    const o = await origin();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => query(n, o.serverName, ['ed25519:a1'], undefined, i % 2)));
    expect(o.fetches).toBe(1);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.json.server_keys).toHaveLength(1);
    }
  });
});
