/**
 * Responses learned from an upstream notary (NOTARY_UPSTREAM_NOTARIES_FILE) and MSC4499's
 * provisional bindings, in the store's Lua: stored only for an origin the notary holds nothing for,
 * served like any other, their bindings provisional until a response from the origin itself
 * confirms them (same body) or overrides them (another body: not a collision; every provisional
 * binding and the learned response go). The origin's fetch state is the caller's.
 */
import type Redis from 'ioredis';
import type { ResponseKey } from '@matrix-notary/protocol';
import {
  bindingsInHeader,
  createRedis,
  describeOriginRecord,
  headerOf,
  KeyStore,
  keyStatsKey,
  originRecordKey,
  parseBinding,
  parseStoredResponse,
  type Binding,
} from '@matrix-notary/store';
import { active, bodyOf, DAY_MS, deleteKeysUnder, HOUR_MS, labelsOf, responseBytes, retired, SECOND_MS, serverNamer, T0_MS, testRedisUrl, uniquePrefix, unusable } from './redis-test-helpers';

const PREFIX = uniquePrefix();
const INTERVAL_MS = 60 * SECOND_MS;
const UPSTREAM = 'upstream.example.net';

let redis: Redis;
let store: KeyStore;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'store-test-provisional' });
  store = new KeyStore(redis, { prefix: PREFIX });
});

afterAll(async () => {
  await deleteKeysUnder(redis, PREFIX);
  await redis.quit();
});

const freshServer = serverNamer('prov');


const learn = (server: string, label: string, keys: ResponseKey[], atMs = T0_MS) =>
  store.storeLearnedResponse(server, responseBytes(label), { validUntilTs: atMs + DAY_MS, keys }, atMs, UPSTREAM);
const fetched = (server: string, label: string, keys: ResponseKey[], atMs: number) =>
  store.storeResponse(server, responseBytes(label), { validUntilTs: atMs + DAY_MS, keys }, atMs, INTERVAL_MS);

async function served(server: string, keyIds: string[], atMs = T0_MS + HOUR_MS): Promise<string[]> {
  const [result] = await store.lookup([{ serverName: server, keyIds, minValidUntilTs: 0 }], atMs);
  return labelsOf(result.entries);
}

async function record(server: string): Promise<Record<string, Buffer>> {
  return redis.hgetallBuffer(originRecordKey(PREFIX, server));
}

async function bindings(server: string): Promise<Map<string, Binding>> {
  const all = await record(server);
  const out = new Map<string, Binding>();
  if (all.latest) for (const [keyId, b] of bindingsInHeader(headerOf(parseStoredResponse(all.latest)!))) out.set(keyId, b);
  for (const [field, value] of Object.entries(all)) {
    if (field.startsWith('k:')) out.set(field.slice(2), parseBinding(value.toString('latin1'))!);
  }
  return out;
}

const provisionalIds = async (server: string): Promise<string[]> =>
  [...(await bindings(server))].filter(([, b]) => b.provisional).map(([id]) => id).sort();

async function bindingCount(): Promise<number> {
  return Number((await redis.hget(keyStatsKey(PREFIX), 'bindings')) ?? 0);
}

describe('a response learned from an upstream notary', () => {
  it('is stored for an origin the notary holds nothing for, served, its bindings provisional; the fetch state is left alone', async () => {
    const server = freshServer();
    // The failed origin fetch's state, as the worker's claim and recordFailure leave it.
    await store.claimFetch(server, T0_MS, 'job-1');
    await store.recordFailure(server, T0_MS, INTERVAL_MS, HOUR_MS);
    await store.noteProblem(server, T0_MS, 'connection', 'refused');
    const before = await bindingCount();

    const result = await learn(server, 'learned', [active('ed25519:a'), retired('ed25519:old', T0_MS - DAY_MS)], T0_MS + SECOND_MS);
    expect(result).toMatchObject({ stored: true, id: '1', bindingsAdded: 2 });
    expect(await served(server, ['ed25519:a'])).toEqual(['learned']);
    expect(await served(server, ['ed25519:old'])).toEqual(['learned']);
    expect(await provisionalIds(server)).toEqual(['ed25519:a', 'ed25519:old']);
    expect(await bindingCount()).toBe(before + 2);

    const fields = await record(server);
    expect(fields.up?.toString()).toBe(`1 ${UPSTREAM}`);
    expect(fields.fails?.toString()).toBe('1'); // the origin's failure still counts for its backoff
    expect(fields.err?.toString()).toMatch(/ connection refused$/);
    expect(Number(fields.next)).toBe(T0_MS + 2 * INTERVAL_MS);
    expect(await redis.pttl(originRecordKey(PREFIX, server))).toBe(-1); // kept for good, like any held response

    const report = describeOriginRecord(server, new Map(Object.entries(fields)));
    expect(report.responses.map((r) => [r.id, r.learned_from])).toEqual([[1, UPSTREAM]]);
    expect(report.bindings.map((b) => [b.key_id, b.provisional])).toEqual([
      ['ed25519:a', true],
      ['ed25519:old', true],
    ]);
  });

  it('is not stored when a response is held for the origin by then (nothing written)', async () => {
    const server = freshServer();
    await fetched(server, 'direct', [active('ed25519:a')], T0_MS);
    const before = await record(server);
    expect(await store.holdsResponse(server)).toBe(true);
    expect(await learn(server, 'late', [active('ed25519:a', 'other')], T0_MS + SECOND_MS)).toEqual({ stored: false, held: true });
    expect(await record(server)).toEqual(before);
    expect(await store.holdsResponse(freshServer())).toBe(false);
  });
});

describe('a later response from the origin itself', () => {
  it('agreeing: confirms the bindings it lists; the others stay provisional and answered by the learned response', async () => {
    const server = freshServer();
    await learn(server, 'learned', [active('ed25519:a'), retired('ed25519:old', T0_MS - DAY_MS)]);
    const before = await bindingCount();
    const result = await fetched(server, 'direct', [active('ed25519:a'), active('ed25519:b')], T0_MS + HOUR_MS);
    expect(result).toMatchObject({ stored: true, bindingsAdded: 1, provisionalConfirmed: 1, provisionalDropped: 0, overridden: [] });
    expect(await provisionalIds(server)).toEqual(['ed25519:old']);
    expect(await served(server, ['ed25519:a'], T0_MS + 2 * HOUR_MS)).toEqual(['direct']);
    expect(await served(server, ['ed25519:old'], T0_MS + 2 * HOUR_MS)).toEqual(['learned', 'direct']);
    expect((await record(server)).up?.toString()).toBe(`1 ${UPSTREAM}`);
    expect(await bindingCount()).toBe(before + 1);

    // Once the origin has shown every provisional key, nothing is provisional and `up` goes.
    await fetched(server, 'direct2', [active('ed25519:b'), retired('ed25519:old', T0_MS - DAY_MS)], T0_MS + 3 * HOUR_MS);
    expect(await provisionalIds(server)).toEqual([]);
    expect((await record(server)).up).toBeUndefined();
  });

  it('disagreeing: overrides instead of colliding; every provisional binding and the learned response go', async () => {
    const server = freshServer();
    await learn(server, 'learned', [active('ed25519:a'), retired('ed25519:old', T0_MS - DAY_MS), unusable('ed25519:ahead')]);
    const before = await bindingCount();
    const result = await fetched(server, 'direct', [active('ed25519:a', 'the origin says otherwise'), active('ed25519:b')], T0_MS + HOUR_MS);
    expect(result).toMatchObject({
      stored: true,
      overridden: [{ keyId: 'ed25519:a', learnedBody: bodyOf('ed25519:a'), fetchedBody: bodyOf('ed25519:a', 'the origin says otherwise') }],
      provisionalDropped: 3,
      provisionalConfirmed: 0,
      bindingsAdded: 2,
      learnedFrom: UPSTREAM,
    });
    const now = await bindings(server);
    expect([...now.keys()].sort()).toEqual(['ed25519:a', 'ed25519:b']);
    expect(now.get('ed25519:a')).toMatchObject({ body: bodyOf('ed25519:a', 'the origin says otherwise'), provisional: false, firstSeenTs: T0_MS + HOUR_MS });
    const fields = await record(server);
    expect(Object.keys(fields).filter((f) => f.startsWith('r:') || f.startsWith('k:') || f === 'up')).toEqual([]);
    expect(await served(server, ['ed25519:old'], T0_MS + 2 * HOUR_MS)).toEqual([]); // the learned response is gone
    expect(await served(server, [], T0_MS + 2 * HOUR_MS)).toEqual(['direct']);
    expect(await bindingCount()).toBe(before - 3 + 2);
  });

  it('disagreeing later: bindings already confirmed stay, the learned response stops answering for any key', async () => {
    const server = freshServer();
    // The learned response holds a (not yet usable) retirement of ed25519:r and an old key ed25519:g.
    await learn(server, 'learned', [active('ed25519:a'), unusable('ed25519:r'), retired('ed25519:g', T0_MS - DAY_MS)]);
    // The origin confirms a and r (r still retired with its expiry ahead: the learned response keeps answering for nothing new).
    await fetched(server, 'direct1', [active('ed25519:a'), unusable('ed25519:r')], T0_MS + HOUR_MS);
    expect(await provisionalIds(server)).toEqual(['ed25519:g']);
    // Then it gives g another body: an override.
    const result = await fetched(server, 'direct2', [active('ed25519:a'), retired('ed25519:g', T0_MS - DAY_MS, 'another')], T0_MS + 2 * HOUR_MS);
    expect(result).toMatchObject({ stored: true, provisionalDropped: 1, overridden: [{ keyId: 'ed25519:g' }] });
    const now = await bindings(server);
    expect(now.get('ed25519:a')).toMatchObject({ provisional: false, body: bodyOf('ed25519:a') });
    expect(now.get('ed25519:r')).toMatchObject({ provisional: false, holder: '0' }); // bound, answered by nothing
    expect(now.get('ed25519:g')).toMatchObject({ provisional: false, body: bodyOf('ed25519:g', 'another') });
    // Neither the learned response (#1) nor the first direct one (#2) answers for any key ID now.
    expect(Object.keys(await record(server)).filter((f) => f.startsWith('r:') || f === 'up')).toEqual([]);
    expect(await served(server, ['ed25519:g'], T0_MS + 3 * HOUR_MS)).toEqual(['direct2']);
  });

  it('a permanent binding still refuses a response with another body as a collision', async () => {
    const server = freshServer();
    await learn(server, 'learned', [active('ed25519:a')]);
    await fetched(server, 'direct', [active('ed25519:a')], T0_MS + HOUR_MS); // confirmed: permanent now
    const result = await fetched(server, 'liar', [active('ed25519:a', 'other')], T0_MS + 2 * HOUR_MS);
    expect(result).toMatchObject({ stored: false, collision: { keyId: 'ed25519:a' } });
  });
});
