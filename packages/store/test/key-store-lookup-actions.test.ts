/**
 * What KeyStore.lookup tells its caller to do beside the entries (DESIGN behaviours 1, 2, 3 and 6):
 * serve what is stored, fetch (the stored answer will not do and the origin may be contacted now),
 * wait for a fetch in flight, or serve what is stored without fetching (the origin may not be
 * contacted yet); and whether a background refresh is due (at half the lifetime seen at fetch
 * time, at least every 7 days, once per refresh-request interval).
 */
import type Redis from 'ioredis';
import { KEY_VALIDITY_CAP_MS } from '@matrix-notary/protocol';
import { createRedis, KeyStore, type LookupResult } from '@matrix-notary/store';
import { activeKeys, DAY_MS, deleteKeysUnder, HOUR_MS, MINUTE_MS, responseBytes, SECOND_MS, serverNamer, T0_MS, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const PREFIX = uniquePrefix();
const INTERVAL_MS = MINUTE_MS;
const MAX_BACKOFF_MS = HOUR_MS;
const REFRESH_REQUEST_INTERVAL_MS = 30 * SECOND_MS;

let redis: Redis;
let store: KeyStore;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-lookup-flags' });
  store = new KeyStore(redis, { prefix: PREFIX, refreshRequestIntervalMs: REFRESH_REQUEST_INTERVAL_MS });
});

afterAll(async () => {
  await deleteKeysUnder(redis, PREFIX);
  await redis.quit();
});

const freshServer = serverNamer('flags');

async function lookupOne(serverName: string, nowMs: number, opts: { keyIds?: string[]; minValidUntilTs?: number } = {}): Promise<LookupResult> {
  const [result] = await store.lookup([{ serverName, keyIds: opts.keyIds ?? [], minValidUntilTs: opts.minValidUntilTs ?? nowMs }], nowMs);
  return result;
}

/** Stores one response holding ed25519:a, fetched at fetchedMs and valid until validUntilTs. */
async function storeAt(serverName: string, fetchedMs: number, validUntilTs: number): Promise<void> {
  await store.storeResponse(serverName, responseBytes(serverName), { validUntilTs: validUntilTs, keys: activeKeys(['ed25519:a']) }, fetchedMs, INTERVAL_MS);
}

describe('KeyStore.lookup: serve, or fetch because the stored answer will not do', () => {
  it('is fetch, with no entries, when nothing is stored', async () => {
    const result = await lookupOne(freshServer(), T0_MS, { keyIds: ['ed25519:a'] });
    expect(result).toEqual({ action: 'fetch', refreshDue: false, entries: [] });
  });

  it('is serve for a fresh response that holds the keys asked', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + DAY_MS);
    expect((await lookupOne(server, T0_MS + SECOND_MS)).action).toBe('serve');
    expect((await lookupOne(server, T0_MS + SECOND_MS, { keyIds: ['ed25519:a'] })).action).toBe('serve');
  });

  it('is not serve when minimum_valid_until_ts is beyond the latest valid_until_ts, and the stale response is still served', async () => {
    const server = freshServer();
    const validUntilTs = T0_MS + DAY_MS;
    await storeAt(server, T0_MS, validUntilTs);
    expect((await lookupOne(server, T0_MS + SECOND_MS, { minValidUntilTs: validUntilTs })).action).toBe('serve');

    const result = await lookupOne(server, T0_MS + SECOND_MS, { minValidUntilTs: validUntilTs + 1 });
    expect(result.action).toBe('serveStale'); // within the interval after the store
    expect(result.entries).toHaveLength(1);
    expect((await lookupOne(server, T0_MS + INTERVAL_MS, { minValidUntilTs: validUntilTs + 1 })).action).toBe('fetch');
  });

  it('is fetch once the response has expired (minimum_valid_until_ts defaults to now)', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + HOUR_MS);
    expect((await lookupOne(server, T0_MS + HOUR_MS)).action).toBe('serve');
    const result = await lookupOne(server, T0_MS + HOUR_MS + 1);
    expect(result.action).toBe('fetch');
    expect(result.entries).toHaveLength(1); // behaviour 3: an expired response is still served
  });

  it('is fetch when a key ID asked was never seen, while the stored response is still served', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + DAY_MS);
    const result = await lookupOne(server, T0_MS + INTERVAL_MS, { keyIds: ['ed25519:a', 'ed25519:rotated'] });
    expect(result.action).toBe('fetch');
    expect(result.entries).toHaveLength(1);
  });
});

describe('KeyStore.lookup: fetch, wait or serveStale follow the claim and the next-fetch time set by recordFailure and storeResponse', () => {
  it('is wait while a claimed fetch is in flight, fetch again when its lease ends without an outcome', async () => {
    const server = freshServer();
    expect((await store.claimFetch(server, T0_MS, 'job', Number.MAX_SAFE_INTEGER, 5000)).allowed).toBe(true);
    expect(await lookupOne(server, T0_MS)).toMatchObject({ action: 'wait', entries: [] });
    expect((await lookupOne(server, T0_MS + 4999)).action).toBe('wait');
    // A record holding only fetch state still needs a fetch.
    expect(await lookupOne(server, T0_MS + 5000)).toMatchObject({ action: 'fetch', entries: [] });
  });

  it('is serveStale after recordFailure until the backed-off wait has passed', async () => {
    const server = freshServer();
    const { waitMs } = await store.recordFailure(server, T0_MS, INTERVAL_MS, MAX_BACKOFF_MS);
    expect(waitMs).toBe(2 * INTERVAL_MS);
    expect(await lookupOne(server, T0_MS + waitMs - 1)).toMatchObject({ action: 'serveStale', entries: [] });
    expect((await lookupOne(server, T0_MS + waitMs)).action).toBe('fetch');
  });

  it('is serveStale after storeResponse until the interval has passed', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + DAY_MS);
    // A key ID the response lacks, so the stored answer will not do.
    const rotated = { keyIds: ['ed25519:rotated'] };
    expect(await lookupOne(server, T0_MS + INTERVAL_MS - 1, rotated)).toMatchObject({ action: 'serveStale', entries: [] });
    expect((await lookupOne(server, T0_MS + INTERVAL_MS, rotated)).action).toBe('fetch');
  });
});

describe('KeyStore.lookup: refreshDue', () => {
  it('becomes true at half the lifetime seen at fetch time, not before', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + 2 * HOUR_MS); // due at T0 + 1 h
    expect((await lookupOne(server, T0_MS + HOUR_MS - 1)).refreshDue).toBe(false);
    const due = await lookupOne(server, T0_MS + HOUR_MS);
    expect(due).toMatchObject({ action: 'serve', refreshDue: true });
    expect(due.entries).toHaveLength(1);
  });

  it('is true at most once per refresh-request interval', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + 2 * HOUR_MS);
    const due = T0_MS + HOUR_MS;
    expect((await lookupOne(server, due)).refreshDue).toBe(true);
    expect((await lookupOne(server, due)).refreshDue).toBe(false);
    expect((await lookupOne(server, due + REFRESH_REQUEST_INTERVAL_MS - 1)).refreshDue).toBe(false);
    expect((await lookupOne(server, due + REFRESH_REQUEST_INTERVAL_MS)).refreshDue).toBe(true);
    expect((await lookupOne(server, due + REFRESH_REQUEST_INTERVAL_MS)).refreshDue).toBe(false);
  });

  it('is true for only one of many concurrent lookups at the due time', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + 2 * HOUR_MS);
    const results = await Promise.all(Array.from({ length: 20 }, () => lookupOne(server, T0_MS + HOUR_MS)));
    expect(results.filter((r) => r.refreshDue)).toHaveLength(1);
  });

  it('is due after 7 days at the latest, however long the response claims to be valid', async () => {
    const server = freshServer();
    expect(KEY_VALIDITY_CAP_MS).toBe(7 * DAY_MS);
    await storeAt(server, T0_MS, T0_MS + 365 * DAY_MS);
    expect((await lookupOne(server, T0_MS + 7 * DAY_MS - 1)).refreshDue).toBe(false);
    const due = await lookupOne(server, T0_MS + 7 * DAY_MS);
    expect(due.refreshDue).toBe(true);
    expect(due.action).toBe('serve'); // validity judged on the response's own valid_until_ts
  });

  it('is never true while the origin may not be contacted, and becomes true once it may', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + 2 * HOUR_MS);
    const due = T0_MS + HOUR_MS;
    expect((await store.claimFetch(server, due, 'job')).allowed).toBe(true);
    const held = await lookupOne(server, due + 1);
    expect(held).toMatchObject({ action: 'serve', refreshDue: false });
    // What a caller needing a fetch would be told meanwhile: wait for the one in flight.
    expect((await lookupOne(server, due + 1, { keyIds: ['ed25519:rotated'] })).action).toBe('wait');

    await store.recordFailure(server, due + 1, INTERVAL_MS, MAX_BACKOFF_MS); // next fetch at due + 1 + 2 intervals
    const backingOff = await lookupOne(server, due + 2 * INTERVAL_MS);
    expect(backingOff).toMatchObject({ action: 'serve', refreshDue: false });
    expect((await lookupOne(server, due + 2 * INTERVAL_MS, { keyIds: ['ed25519:rotated'] })).action).toBe('serveStale');

    expect(await lookupOne(server, due + 1 + 2 * INTERVAL_MS)).toMatchObject({ action: 'serve', refreshDue: true });
  });

  it('restarts from the new fetch time after a refresh is stored', async () => {
    const server = freshServer();
    await storeAt(server, T0_MS, T0_MS + 2 * HOUR_MS);
    expect((await lookupOne(server, T0_MS + HOUR_MS)).refreshDue).toBe(true);
    const refetchedMs = T0_MS + HOUR_MS + MINUTE_MS;
    await storeAt(server, refetchedMs, refetchedMs + 2 * HOUR_MS); // due at refetched + 1 h
    expect((await lookupOne(server, refetchedMs + HOUR_MS - 1)).refreshDue).toBe(false);
    expect((await lookupOne(server, refetchedMs + HOUR_MS)).refreshDue).toBe(true);
  });
});
