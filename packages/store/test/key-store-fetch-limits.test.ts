/**
 * DESIGN behaviour 6 in the store: each origin is contacted at most once per interval (claimFetch),
 * after n failures in a row the next fetch waits min(interval × 2^n, max backoff) (recordFailure), a
 * success resets n (storeResponse), and records holding no response expire on their own.
 */
import type Redis from 'ioredis';
import { createRedis, KeyStore, originRecordKey } from '@matrix-notary/store';
import { activeKeys, DAY_MS, deleteKeysUnder, HOUR_MS, MINUTE_MS, responseBytes, SECOND_MS, serverNamer, T0_MS, testRedisUrl, uniquePrefix } from './redis-test-helpers';

const PREFIX = uniquePrefix();
const EMPTY_RECORD_TTL_MS = 10 * MINUTE_MS;

let redis: Redis;
let store: KeyStore;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-fetch-limits' });
  store = new KeyStore(redis, { prefix: PREFIX, emptyRecordTtlMs: EMPTY_RECORD_TTL_MS });
});

afterAll(async () => {
  await deleteKeysUnder(redis, PREFIX);
  await redis.quit();
});

const freshServer = serverNamer('limits');

/** Records `count` failures at T0 (sent concurrently, so they share round trips). */
async function failManyTimes(serverName: string, count: number, intervalMs: number, maxBackoffMs: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, () => store.recordFailure(serverName, T0_MS, intervalMs, maxBackoffMs)));
}

const ALLOWED = { allowed: true, superseded: false, waitMs: 0 };

function refused(waitMs: number) {
  return { allowed: false, superseded: false, waitMs };
}

function pttl(serverName: string): Promise<number> {
  return redis.pttl(originRecordKey(PREFIX, serverName));
}

describe('KeyStore.claimFetch: one fetch per origin at a time, at most one per interval', () => {
  const INTERVAL_MS = MINUTE_MS;
  const LEASE_MS = 20 * SECOND_MS;
  const claim = (server: string, now: number, claimant = 'job-a', requestedAt = Number.MAX_SAFE_INTEGER) =>
    store.claimFetch(server, now, claimant, requestedAt, LEASE_MS);

  it("refuses other claimants while a claim's lease runs; after a stored fetch, everyone until the interval has passed", async () => {
    const server = freshServer();
    expect(await claim(server, T0_MS)).toEqual(ALLOWED);
    expect(await claim(server, T0_MS, 'job-b')).toEqual(refused(LEASE_MS));
    expect(await claim(server, T0_MS + LEASE_MS - 1, 'job-b')).toEqual(refused(1));
    await store.storeResponse(server, responseBytes('ok'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS + SECOND_MS, INTERVAL_MS);
    expect(await claim(server, T0_MS + SECOND_MS + INTERVAL_MS - 1, 'job-b')).toEqual(refused(1));
    expect(await claim(server, T0_MS + SECOND_MS + INTERVAL_MS, 'job-b')).toEqual(ALLOWED);
  });

  it('lets the same claimant go ahead at once: its job run again after its worker died mid-fetch', async () => {
    const server = freshServer();
    expect(await claim(server, T0_MS, 'job-a')).toEqual(ALLOWED);
    // The worker died; the job is run again by another worker long before the lease ends.
    expect(await claim(server, T0_MS + 5 * SECOND_MS, 'job-a')).toEqual(ALLOWED);
    // Nothing of the dead fetch holds the origin past its lease either.
    expect(await claim(server, T0_MS + 5 * SECOND_MS + LEASE_MS, 'job-c')).toEqual(ALLOWED);
  });

  it('allows exactly one of many concurrent claimants', async () => {
    const server = freshServer();
    const claims = await Promise.all(Array.from({ length: 25 }, (_, i) => claim(server, T0_MS, `job-${i}`)));
    expect(claims.filter((c) => c.allowed)).toHaveLength(1);
  });

  it('keeps origins apart', async () => {
    const [a, b] = [freshServer(), freshServer()];
    expect((await claim(a, T0_MS)).allowed).toBe(true);
    expect((await claim(b, T0_MS)).allowed).toBe(true);
  });

  it('reports a claim as superseded when a fetch ended (stored or failed) after it was asked for', async () => {
    const stored = freshServer();
    await store.storeResponse(stored, responseBytes('fresh'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, 0);
    expect(await claim(stored, T0_MS + HOUR_MS, 'job-a', T0_MS - 1)).toEqual({ allowed: false, superseded: true, waitMs: 0 });
    expect(await claim(stored, T0_MS + HOUR_MS, 'job-a', T0_MS + 1)).toEqual(ALLOWED);

    const failed = freshServer();
    await store.recordFailure(failed, T0_MS, 0, HOUR_MS);
    expect((await claim(failed, T0_MS, 'job-a', T0_MS)).superseded).toBe(true);
    expect(await claim(failed, T0_MS, 'job-a', T0_MS + 1)).toEqual(ALLOWED);
  });

  it('with interval 0, allows the next claim as soon as an outcome is recorded', async () => {
    const server = freshServer();
    expect(await claim(server, T0_MS)).toEqual(ALLOWED);
    expect(await store.recordFailure(server, T0_MS, 0, HOUR_MS)).toEqual({ failures: 1, waitMs: 0 });
    expect(await claim(server, T0_MS, 'job-b')).toEqual(ALLOWED);
  });

  it('after releaseClaim (the signer was unavailable) waits one plain interval, counting no failure', async () => {
    const server = freshServer();
    expect(await claim(server, T0_MS)).toEqual(ALLOWED);
    await store.releaseClaim(server, T0_MS + SECOND_MS, INTERVAL_MS);
    expect(await claim(server, T0_MS + SECOND_MS + INTERVAL_MS - 1, 'job-b')).toEqual(refused(1));
    expect(await claim(server, T0_MS + SECOND_MS + INTERVAL_MS, 'job-b')).toEqual(ALLOWED);
    expect(await store.recordFailure(server, T0_MS + 2 * INTERVAL_MS, INTERVAL_MS, HOUR_MS)).toEqual({ failures: 1, waitMs: 2 * INTERVAL_MS });
  });
});

describe('KeyStore.recordFailure: doubling backoff', () => {
  const INTERVAL_MS = SECOND_MS;
  const MAX_BACKOFF_MS = 20 * SECOND_MS;

  it('makes the next fetch wait min(interval × 2^n, max backoff) after n failures in a row', async () => {
    const server = freshServer();
    let now = T0_MS;
    const waits: number[] = [];
    for (let n = 1; n <= 7; n++) {
      expect((await store.claimFetch(server, now, 'job')).allowed).toBe(true);
      const { failures, waitMs } = await store.recordFailure(server, now, INTERVAL_MS, MAX_BACKOFF_MS);
      expect(failures).toBe(n);
      expect(waitMs).toBe(Math.min(INTERVAL_MS * 2 ** n, MAX_BACKOFF_MS));
      expect(await store.claimFetch(server, now + waitMs - 1, 'job')).toEqual(refused(1));
      waits.push(waitMs);
      now += waitMs;
    }
    expect(waits).toEqual([2000, 4000, 8000, 16000, 20000, 20000, 20000]);
  });

  it('resets the failure count when a response is stored', async () => {
    const server = freshServer();
    for (let n = 1; n <= 3; n++) await store.recordFailure(server, T0_MS, INTERVAL_MS, MAX_BACKOFF_MS);
    const storedMs = T0_MS + MINUTE_MS;
    await store.storeResponse(server, responseBytes('ok'), { validUntilTs: storedMs + DAY_MS, keys: activeKeys(['ed25519:a']) }, storedMs, INTERVAL_MS);
    // A success holds the origin for one plain interval, not a backed-off one.
    expect((await store.claimFetch(server, storedMs + INTERVAL_MS - 1, 'job')).allowed).toBe(false);
    expect((await store.claimFetch(server, storedMs + INTERVAL_MS, 'job')).allowed).toBe(true);
    expect(await store.recordFailure(server, storedMs + INTERVAL_MS, INTERVAL_MS, MAX_BACKOFF_MS)).toEqual({
      failures: 1,
      waitMs: 2 * INTERVAL_MS,
    });
  });

  it('stays at the cap, with a consistent next fetch time, after very many failures', async () => {
    const server = freshServer();
    await failManyTimes(server, 1100, INTERVAL_MS, MAX_BACKOFF_MS); // 2^1100 is beyond a double
    const { failures, waitMs } = await store.recordFailure(server, T0_MS, INTERVAL_MS, MAX_BACKOFF_MS);
    expect(failures).toBe(1101);
    expect(waitMs).toBe(MAX_BACKOFF_MS);
    expect(await store.claimFetch(server, T0_MS + MAX_BACKOFF_MS - 1, 'job')).toEqual(refused(1));
    expect((await store.claimFetch(server, T0_MS + MAX_BACKOFF_MS, 'job')).allowed).toBe(true);
  });

  it('keeps the wait at 0 with interval 0, however many failures', async () => {
    const server = freshServer();
    await failManyTimes(server, 1100, 0, MAX_BACKOFF_MS); // 0 × 2^1100 must not become NaN
    expect(await store.recordFailure(server, T0_MS, 0, MAX_BACKOFF_MS)).toEqual({ failures: 1101, waitMs: 0 });
    expect(await store.claimFetch(server, T0_MS, 'job')).toEqual(ALLOWED);
  });
});

describe('KeyStore: records without a response expire, records with one do not', () => {
  it('gives a record created by claimFetch a TTL: the least lifetime plus the lease', async () => {
    const server = freshServer();
    await store.claimFetch(server, T0_MS, 'job', Number.MAX_SAFE_INTEGER, 5000);
    const ttl = await pttl(server);
    expect(ttl).toBeGreaterThan(EMPTY_RECORD_TTL_MS);
    expect(ttl).toBeLessThanOrEqual(EMPTY_RECORD_TTL_MS + 5000);
  });

  it('gives a record created by recordFailure a TTL no shorter than the backoff it records', async () => {
    const server = freshServer();
    await store.recordFailure(server, T0_MS, MINUTE_MS, HOUR_MS);
    expect(await pttl(server)).toBeGreaterThan(0);

    const longBackoff = freshServer();
    const { waitMs } = await store.recordFailure(longBackoff, T0_MS, 20 * MINUTE_MS, HOUR_MS);
    expect(waitMs).toBe(40 * MINUTE_MS);
    expect(waitMs).toBeGreaterThan(EMPTY_RECORD_TTL_MS);
    expect(await pttl(longBackoff)).toBeGreaterThan(EMPTY_RECORD_TTL_MS);
  });

  it('removes the TTL when a response is stored, and claimFetch and recordFailure do not bring it back', async () => {
    const server = freshServer();
    await store.claimFetch(server, T0_MS, 'job');
    expect(await pttl(server)).toBeGreaterThan(0);
    await store.storeResponse(server, responseBytes('kept'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    expect(await pttl(server)).toBe(-1);

    await store.claimFetch(server, T0_MS + MINUTE_MS, 'job');
    expect(await pttl(server)).toBe(-1);
    await store.recordFailure(server, T0_MS + MINUTE_MS, MINUTE_MS, HOUR_MS);
    expect(await pttl(server)).toBe(-1);
  });

  it('gives a record created by storeResponse alone no TTL', async () => {
    const server = freshServer();
    await store.storeResponse(server, responseBytes('kept'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS, MINUTE_MS);
    expect(await pttl(server)).toBe(-1);
  });
});

describe('KeyStore: a fetch in flight', () => {
  const INTERVAL_MS = MINUTE_MS;
  it('is seen by lookups from the claim until its outcome, or until its lease ends', async () => {
    const server = freshServer();
    const lookup = async (now: number) => (await store.lookup([{ serverName: server, keyIds: [], minValidUntilTs: now }], now))[0];
    expect((await lookup(T0_MS)).action).toBe('fetch');
    await store.claimFetch(server, T0_MS, 'job-a', Number.MAX_SAFE_INTEGER, 5000);
    // Waited for, not fetched again: not while it runs; the interval then starts with its outcome.
    expect((await lookup(T0_MS + 1)).action).toBe('wait');
    expect((await lookup(T0_MS + 5000)).action).toBe('fetch'); // the lease has ended
    await store.claimFetch(server, T0_MS + INTERVAL_MS, 'job-b', Number.MAX_SAFE_INTEGER, 5000);
    expect((await lookup(T0_MS + INTERVAL_MS + 1)).action).toBe('wait');
    await store.recordFailure(server, T0_MS + INTERVAL_MS + 2, INTERVAL_MS, HOUR_MS);
    // A failure ends it; the backoff then holds the next fetch back.
    expect((await lookup(T0_MS + INTERVAL_MS + 3)).action).toBe('serveStale');
  });
});

describe('KeyStore: backoff is never shorter than the interval', () => {
  it('keeps the interval when the backoff cap is set below it', async () => {
    const server = freshServer();
    expect(await store.recordFailure(server, T0_MS, MINUTE_MS, 0)).toEqual({ failures: 1, waitMs: MINUTE_MS });
    expect((await store.claimFetch(server, T0_MS + MINUTE_MS - 1, 'job')).allowed).toBe(false);
  });

  it('endedSince tells whether a fetch stored or failed at or after a time', async () => {
    const stored = freshServer();
    const failed = freshServer();
    const untouched = freshServer();
    await store.storeResponse(stored, responseBytes('s'), { validUntilTs: T0_MS + DAY_MS, keys: activeKeys(['ed25519:a']) }, T0_MS + 10, 0);
    await store.recordFailure(failed, T0_MS + 20, 0, HOUR_MS);
    expect(await store.endedSince([stored, failed, untouched], T0_MS + 10)).toEqual([true, true, false]);
    expect(await store.endedSince([stored, failed], T0_MS + 21)).toEqual([false, false]);
  });
});
