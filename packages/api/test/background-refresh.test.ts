/**
 * Background refreshes end to end (DESIGN behaviours 5 and 6): a stored response is refetched in
 * the background at half its remaining lifetime, and at least every 7 days, but only while it is
 * asked for; the query that notices it is answered at once from the store, and the refresh is
 * asked for once however many queries notice it. Real api and worker instances, the test Redis,
 * real HTTPS origins.
 *
 * Each api pod answers a server from memory for up to 1 s after a Redis hit (hot-entries.ts), so
 * queries that must reach Redis ask for a key-ID set not asked for before.
 */
import { originRecordKey } from '@matrix-notary/store';
import { FakeOrigin, testRedisUrl } from '@matrix-notary/testing';
import Redis from 'ioredis';
import { counterValue, postQuery, useTestBed, type Notary } from './notary-harness';

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Lifetime of the short-lived responses: half-life at 2 s, expiry (then a miss, not a refresh) at 4 s. */
const LIFETIME_MS = 4000;
/** The origin answers this slowly during a refresh, so a query that waited for it is told apart. */
const ORIGIN_DELAY_MS = 1000;
/** Fetches on, every stored response accepted, no minimum interval: only the refresh rules hold fetches back. */
const ENV = { NOTARY_MIN_KEY_VALIDITY_S: '0', NOTARY_ORIGIN_MIN_INTERVAL_S: '0' };

let redis: Redis;

beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(() => {
  redis.disconnect();
});

const bed = useTestBed();
const notary = bed.notary;

/** An origin with `keys` keys (ed25519:a1, a2, ...), so queries can ask for distinct key-ID sets. */
async function origin(keys = 2): Promise<FakeOrigin> {
  const o = await bed.origin();
  for (let i = 2; i <= keys; i++) o.current.push(FakeOrigin.newKey(`ed25519:a${i}`));
  return o;
}

/** `count` distinct non-empty sets of the key IDs given. */
function distinctKeySets(keyIds: string[], count: number): string[][] {
  const sets: string[][] = [];
  for (let mask = 1; mask < 1 << keyIds.length && sets.length < count; mask++) sets.push(keyIds.filter((_, i) => mask & (1 << i)));
  if (sets.length < count) throw new Error(`only ${sets.length} distinct key-ID sets`);
  return sets;
}

function query(n: Notary, serverName: string, keyIds: string[] = [], api = 0) {
  const criteria: Record<string, unknown> = {};
  for (const k of keyIds) criteria[k] = {};
  return postQuery(n.url('/_matrix/key/v2/query', api), { server_keys: { [serverName]: criteria } });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= until) return false;
    await sleep(20);
  }
}

/** Responses the workers stored (every fetch that succeeded). */
function stored(n: Notary): Promise<number> {
  return counterValue(n.registries, 'matrix_notary_refreshes_total', { outcome: 'stored' });
}

/**
 * Fetches a response valid for LIFETIME_MS through a first query. The store fetched it between
 * `before` and `after`, so its half-life falls between `dueEarliest` and `dueLatest`.
 */
async function firstFetch(n: Notary, o: FakeOrigin) {
  const validUntilTs = Date.now() + LIFETIME_MS;
  o.validUntilTs = validUntilTs;
  const before = Date.now();
  const res = await query(n, o.serverName);
  const after = Date.now();
  expect(o.fetches).toBe(1);
  expect(res.json.server_keys).toHaveLength(1);
  expect(res.json.server_keys[0].valid_until_ts).toBe(validUntilTs);
  return { validUntilTs, dueEarliest: Math.floor((before + validUntilTs) / 2) - 1, dueLatest: Math.ceil((after + validUntilTs) / 2) };
}

describe('6: a stored response is refreshed in the background at half its remaining lifetime', () => {
  test('before half-life nothing is fetched; after it the query is served at once from the store and one background fetch follows', async () => {
    const n = await notary({ env: ENV });
    const o = await origin();
    const { validUntilTs: oldValidity, dueEarliest, dueLatest } = await firstFetch(n, o);

    // Before half-life: served from the store, nothing fetched (not even in the background).
    const early = await query(n, o.serverName, ['ed25519:a1']);
    expect(Date.now()).toBeLessThan(dueEarliest); // the query was indeed made before half-life
    expect(early.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    await sleep(300);
    expect(o.fetches).toBe(1);

    // The origin now serves a different response, slowly.
    const newValidity = Date.now() + HOUR_MS;
    o.validUntilTs = newValidity;
    o.delayMs = ORIGIN_DELAY_MS;
    await sleep(dueLatest + 100 - Date.now());
    expect(o.fetches).toBe(1);

    // After half-life: the stored (old) response at once, without waiting for the origin...
    const started = Date.now();
    const due = await query(n, o.serverName, ['ed25519:a2']);
    const elapsed = Date.now() - started;
    expect(due.status).toBe(200);
    expect(due.json.server_keys).toHaveLength(1);
    expect(due.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    expect(elapsed).toBeLessThan(ORIGIN_DELAY_MS);
    expect(Date.now()).toBeLessThan(oldValidity); // still a refresh, not a miss of an expired response

    // ...and one fetch in the background, whose response is stored.
    expect(await waitFor(() => o.fetches >= 2, 5000)).toBe(true);
    expect(await waitFor(async () => (await stored(n)) >= 2, 5000)).toBe(true);
    await sleep(300);
    expect(o.fetches).toBe(2);
    expect(await stored(n)).toBe(2);

    // The next query serves the refreshed response, without another fetch.
    const after = await query(n, o.serverName, ['ed25519:a1', 'ed25519:a2']);
    expect(after.json.server_keys).toHaveLength(1);
    expect(after.json.server_keys[0].valid_until_ts).toBe(newValidity);
    expect(o.fetches).toBe(2);
    expect(await counterValue(n.registries, 'matrix_notary_refresh_requests_total', { reason: 'refresh' })).toBe(1);
  });

  test('only while it is asked for: a response whose half-life passes without a query is not fetched', async () => {
    const n = await notary({ env: ENV });
    const o = await origin();
    const { validUntilTs, dueLatest } = await firstFetch(n, o);

    await sleep(dueLatest + 700 - Date.now());
    expect(o.fetches).toBe(1);
    expect(await counterValue(n.registries, 'matrix_notary_refresh_requests_total')).toBe(1); // the first miss only

    // The same record is due: the first query asking for it starts the refresh.
    expect(Date.now()).toBeLessThan(validUntilTs);
    const res = await query(n, o.serverName, ['ed25519:a1']);
    expect(res.json.server_keys[0].valid_until_ts).toBe(validUntilTs);
    expect(await waitFor(() => o.fetches >= 2, 5000)).toBe(true);
  });

  test('20 concurrent queries through 2 api and 2 worker instances after half-life cause exactly one background fetch', async () => {
    const n = await notary({ apis: 2, workers: 2, env: ENV });
    const o = await origin(5);
    const { validUntilTs: oldValidity, dueLatest } = await firstFetch(n, o);
    const newValidity = Date.now() + HOUR_MS;
    o.validUntilTs = newValidity;
    o.delayMs = ORIGIN_DELAY_MS; // the refresh cannot end before every query is answered
    await sleep(dueLatest + 100 - Date.now());

    // Each query asks for its own key-ID set, so none is answered from a pod's in-memory copy:
    // all 20 look the record up in Redis, and each could be the one to ask for the refresh.
    const keySets = distinctKeySets(o.current.map((k) => k.keyId), 20);
    const started = Date.now();
    const results = await Promise.all(keySets.map((keyIds, i) => query(n, o.serverName, keyIds, i % 2)));
    expect(Date.now() - started).toBeLessThan(ORIGIN_DELAY_MS);
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.json.server_keys).toHaveLength(1);
      expect(r.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    }

    expect(await waitFor(() => o.fetches >= 2, 5000)).toBe(true);
    expect(await waitFor(async () => (await stored(n)) >= 2, 5000)).toBe(true);
    await sleep(300);
    expect(o.fetches).toBe(2);
    expect(await stored(n)).toBe(2);
    // Asked for once: the election, not only the queue's single flight, held the others back.
    expect(await counterValue(n.registries, 'matrix_notary_refresh_requests_total', { reason: 'refresh' })).toBe(1);
    const after = await query(n, o.serverName, o.current.map((k) => k.keyId)); // a key-ID set not asked for yet
    expect(after.json.server_keys[0].valid_until_ts).toBe(newValidity);
  });
});

describe('5: a response claiming a very long validity is refetched at least every 7 days while asked for', () => {
  test('fetched 6 days ago: no refetch; 7 days and a minute ago: served at once, refetched once, valid_until_ts served as is', async () => {
    const n = await notary({ env: ENV });
    const o = await origin();
    const oldValidity = Date.now() + 30 * DAY_MS;
    o.validUntilTs = oldValidity;
    const first = await query(n, o.serverName);
    expect(o.fetches).toBe(1);
    expect(first.json.server_keys[0].valid_until_ts).toBe(oldValidity);

    const record = originRecordKey(n.prefix, o.serverName);
    const fetchedAt = Number(await redis.hget(record, 'fetched'));
    expect(fetchedAt).toBeGreaterThan(Date.now() - MINUTE_MS);
    const newValidity = Date.now() + 31 * DAY_MS;
    o.validUntilTs = newValidity;
    o.delayMs = ORIGIN_DELAY_MS;

    // Fetched 6 days ago (half its remaining lifetime is 18 days): served as stored, no refetch.
    await redis.hset(record, 'fetched', String(fetchedAt - 6 * DAY_MS));
    const sixDays = await query(n, o.serverName, ['ed25519:a1']);
    expect(sixDays.json.server_keys).toHaveLength(1);
    expect(sixDays.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    await sleep(400);
    expect(o.fetches).toBe(1);

    // Fetched 7 days and a minute ago: served at once as stored (its own 30-day validity, not
    // capped), and refetched once in the background.
    await redis.hset(record, 'fetched', String(fetchedAt - 7 * DAY_MS - MINUTE_MS));
    const started = Date.now();
    const sevenDays = await query(n, o.serverName, ['ed25519:a2']);
    expect(Date.now() - started).toBeLessThan(ORIGIN_DELAY_MS);
    expect(sevenDays.json.server_keys).toHaveLength(1);
    expect(sevenDays.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    expect(await waitFor(() => o.fetches >= 2, 5000)).toBe(true);
    expect(await waitFor(async () => (await stored(n)) >= 2, 5000)).toBe(true);
    await sleep(300);
    expect(o.fetches).toBe(2);

    // The refetched response is served with its own validity too.
    const after = await query(n, o.serverName, ['ed25519:a1', 'ed25519:a2']);
    expect(after.json.server_keys[0].valid_until_ts).toBe(newValidity);
    expect(o.fetches).toBe(2);
  });
});
