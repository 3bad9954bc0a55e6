/**
 * Background refreshes end to end (DESIGN behaviours 5 and 6): a stored response is refetched in
 * the background at half its remaining lifetime, and at least every 7 days, but only while it is
 * asked for; the query that notices it is answered at once from the store, and the refresh is
 * asked for once however many queries notice it. Real api and worker instances, the test Redis,
 * real HTTPS origins.
 *
 * The roles run on a TestClock the test moves: half-lives and 7-day marks are reached by setting
 * the clock, not by waiting. "Answered at once" is seen without timing anything: the origin holds
 * its answer (FakeOrigin.hold) until the query has been answered, and the query is counted as a
 * hit, not as a fetch it waited for.
 *
 * Each api pod answers a server from memory for up to 1 s (of its clock) after a Redis hit
 * (hot-entries.ts), so queries that must reach Redis ask for a key-ID set not asked for before.
 */
import { originRecordKey } from '@matrix-notary/store';
import { FakeOrigin, testRedisUrl } from '@matrix-notary/testing';
import Redis from 'ioredis';
import { counterValue, postQuery, TestClock, useTestBed, type Notary } from './notary-harness';

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;
/** Lifetime of the short-lived responses: half-life after 2 h, expiry (then a miss, not a refresh) at 4 h. */
const LIFETIME_MS = 4 * HOUR_MS;
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

/** A notary whose roles all run on `clock`. */
function notary(clock: TestClock, opts: { apis?: number; workers?: number } = {}): Promise<Notary> {
  return bed.notary({ env: ENV, now: clock.now, ...opts });
}

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

/** Polls `cond` until it holds, for at most `timeoutMs` of real time. */
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

/** Fetches asked for, by reason: `miss` (a query waited for it) or `refresh` (in the background). */
function refreshRequests(n: Notary, reason: 'miss' | 'refresh'): Promise<number> {
  return counterValue(n.registries, 'matrix_notary_refresh_requests_total', { reason });
}

/** Servers of queries by how they were answered: hit (from the store at once), fetch (after a fetch), stale. */
function servedAs(n: Notary, result: 'hit' | 'fetch' | 'stale'): Promise<number> {
  return counterValue(n.registries, 'matrix_notary_query_servers_total', { result });
}

/**
 * When a lookup was last elected to ask for a background refresh of the origin (the record's `rq`
 * field, written before that query is answered), or null when none was.
 */
function refreshElected(n: Notary, o: FakeOrigin): Promise<string | null> {
  return redis.hget(originRecordKey(n.prefix, o.serverName), 'rq');
}

/**
 * Fetches a response valid for `lifetimeMs` through a first query. The clock stands still, so it
 * is stored at exactly `fetchedAt`, and its refresh is due at `fetchedAt` plus half its lifetime.
 */
async function firstFetch(n: Notary, o: FakeOrigin, clock: TestClock, lifetimeMs = LIFETIME_MS) {
  const fetchedAt = clock.now();
  const validUntilTs = fetchedAt + lifetimeMs;
  o.validUntilTs = validUntilTs;
  const res = await query(n, o.serverName);
  expect(o.fetches).toBe(1);
  expect(res.json.server_keys).toHaveLength(1);
  expect(res.json.server_keys[0].valid_until_ts).toBe(validUntilTs);
  expect(Number(await redis.hget(originRecordKey(n.prefix, o.serverName), 'fetched'))).toBe(fetchedAt);
  return { validUntilTs, fetchedAt, dueAt: fetchedAt + lifetimeMs / 2 };
}

describe('6: a stored response is refreshed in the background at half its remaining lifetime', () => {
  test('before half-life nothing is fetched; after it the query is served at once from the store and one background fetch follows', async () => {
    const clock = new TestClock();
    const n = await notary(clock);
    const o = await origin();
    const { validUntilTs: oldValidity, dueAt } = await firstFetch(n, o, clock);

    // Just before half-life: served from the store, nothing fetched, not even in the background.
    clock.set(dueAt - 1);
    const early = await query(n, o.serverName, ['ed25519:a1']);
    expect(early.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    expect(await refreshElected(n, o)).toBeNull();
    expect(o.fetches).toBe(1);

    // The origin now serves a different response, and holds it until the query below is answered.
    const newValidity = clock.now() + DAY_MS;
    o.validUntilTs = newValidity;
    const release = o.hold();

    // At half-life: the stored (old) response at once, without waiting for the origin...
    clock.set(dueAt);
    const due = await query(n, o.serverName, ['ed25519:a2']);
    expect(due.status).toBe(200);
    expect(due.json.server_keys).toHaveLength(1);
    expect(due.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    expect(await stored(n)).toBe(1); // the origin has not answered the refresh yet
    expect(await servedAs(n, 'hit')).toBe(2); // a hit, not a fetch waited for (nor a miss of an expired response)
    expect(await servedAs(n, 'fetch')).toBe(1); // the first query only
    expect(await refreshElected(n, o)).toBe(String(dueAt));

    // ...and one fetch in the background, whose response is stored.
    release();
    expect(await waitFor(async () => (await stored(n)) >= 2 && (await refreshRequests(n, 'refresh')) >= 1, 5000)).toBe(true);
    expect(o.fetches).toBe(2);
    expect(await stored(n)).toBe(2);
    expect(await refreshRequests(n, 'refresh')).toBe(1);
    expect(await refreshRequests(n, 'miss')).toBe(1); // the first query only

    // The next query serves the refreshed response, without another fetch.
    const after = await query(n, o.serverName, ['ed25519:a1', 'ed25519:a2']);
    expect(after.json.server_keys).toHaveLength(1);
    expect(after.json.server_keys[0].valid_until_ts).toBe(newValidity);
    expect(o.fetches).toBe(2);
  });

  test('only while it is asked for: a response whose half-life passes without a query is not fetched', async () => {
    const clock = new TestClock();
    const n = await notary(clock);
    const o = await origin();
    const { validUntilTs, dueAt } = await firstFetch(n, o, clock);

    // Past half-life, with nobody asking: a moment of real time for anything that would refresh
    // by itself (a timer, a sweep) to do it. Nothing does.
    clock.set(dueAt + HOUR_MS / 2);
    await sleep(300);
    expect(o.fetches).toBe(1);
    expect(await refreshRequests(n, 'refresh')).toBe(0);
    expect(await refreshRequests(n, 'miss')).toBe(1); // the first query only

    // The same record is due: the first query asking for it starts the refresh.
    const res = await query(n, o.serverName, ['ed25519:a1']);
    expect(res.json.server_keys[0].valid_until_ts).toBe(validUntilTs); // still valid: a refresh, not a miss
    expect(await waitFor(() => o.fetches >= 2, 5000)).toBe(true);
  });

  test('20 concurrent queries through 2 api and 2 worker instances after half-life cause exactly one background fetch', async () => {
    const clock = new TestClock();
    const n = await notary(clock, { apis: 2, workers: 2 });
    const o = await origin(5);
    const { validUntilTs: oldValidity, dueAt } = await firstFetch(n, o, clock);
    const newValidity = clock.now() + DAY_MS;
    o.validUntilTs = newValidity;
    const release = o.hold(); // the refresh cannot end before every query is answered
    clock.set(dueAt);

    // Each query asks for its own key-ID set, so none is answered from a pod's in-memory copy:
    // all 20 look the record up in Redis, and each could be the one to ask for the refresh.
    const keySets = distinctKeySets(o.current.map((k) => k.keyId), 20);
    const results = await Promise.all(keySets.map((keyIds, i) => query(n, o.serverName, keyIds, i % 2)));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.json.server_keys).toHaveLength(1);
      expect(r.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    }
    // All answered while the origin still held its answer, as hits: none waited for the refresh.
    expect(await stored(n)).toBe(1);
    expect(await servedAs(n, 'hit')).toBe(20);
    expect(await servedAs(n, 'fetch')).toBe(1); // the first query only

    release();
    expect(await waitFor(async () => (await stored(n)) >= 2 && (await refreshRequests(n, 'refresh')) >= 1, 5000)).toBe(true);
    expect(o.fetches).toBe(2);
    expect(await stored(n)).toBe(2);
    // Asked for once: the election, not only the queue's single flight, held the others back.
    expect(await refreshRequests(n, 'refresh')).toBe(1);
    const after = await query(n, o.serverName, o.current.map((k) => k.keyId)); // a key-ID set not asked for yet
    expect(after.json.server_keys[0].valid_until_ts).toBe(newValidity);
  });
});

describe('5: a response claiming a very long validity is refetched at least every 7 days while asked for', () => {
  test('fetched 6 days ago: no refetch; 7 days and a minute ago: served at once, refetched once, valid_until_ts served as is', async () => {
    const clock = new TestClock();
    const n = await notary(clock);
    const o = await origin();
    const { validUntilTs: oldValidity, fetchedAt } = await firstFetch(n, o, clock, 30 * DAY_MS);
    const newValidity = fetchedAt + 31 * DAY_MS;
    o.validUntilTs = newValidity;

    // Fetched 6 days ago (half its remaining lifetime is 15 days): served as stored, no refetch.
    clock.set(fetchedAt + 6 * DAY_MS);
    const sixDays = await query(n, o.serverName, ['ed25519:a1']);
    expect(sixDays.json.server_keys).toHaveLength(1);
    expect(sixDays.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    expect(await refreshElected(n, o)).toBeNull();
    expect(o.fetches).toBe(1);

    // Fetched 7 days and a minute ago: served at once as stored (its own 30-day validity, not
    // capped), and refetched once in the background.
    const release = o.hold();
    clock.set(fetchedAt + 7 * DAY_MS + MINUTE_MS);
    const sevenDays = await query(n, o.serverName, ['ed25519:a2']);
    expect(sevenDays.json.server_keys).toHaveLength(1);
    expect(sevenDays.json.server_keys[0].valid_until_ts).toBe(oldValidity);
    expect(await stored(n)).toBe(1);
    expect(await servedAs(n, 'hit')).toBe(2);
    expect(await refreshElected(n, o)).toBe(String(clock.now()));

    release();
    expect(await waitFor(async () => (await stored(n)) >= 2 && (await refreshRequests(n, 'refresh')) >= 1, 5000)).toBe(true);
    expect(o.fetches).toBe(2);
    expect(await refreshRequests(n, 'refresh')).toBe(1);

    // The refetched response is served with its own validity too.
    const after = await query(n, o.serverName, ['ed25519:a1', 'ed25519:a2']);
    expect(after.json.server_keys[0].valid_until_ts).toBe(newValidity);
    expect(o.fetches).toBe(2);
  });
});
