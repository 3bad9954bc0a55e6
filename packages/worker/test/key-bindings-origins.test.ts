/**
 * DESIGN behaviour 12 (MSC4499 key bindings) end to end: real api and worker instances, the test
 * Redis, real HTTPS origins on the test CA. One test per rule of issue 10's list; the store-level
 * details (history, eviction order) have their own tests in packages/store.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, VariableReader } from '@matrix-notary/common';
import { FederationClient } from '@matrix-notary/federation';
import { encodeCanonicalJson, keyFingerprint } from '@matrix-notary/protocol';
import { createRedis, FetchEventPublisher, KeyStore } from '@matrix-notary/store';
import { FakeOrigin, testRedisUrl, type OriginKey } from '@matrix-notary/testing';
import { Registry } from 'prom-client';
import { SignerGate } from '../src/signer-gate';
import { createWorkerMetrics, readWorkerConfig, refreshOrigin, type RefreshDeps } from '../src';
import { counterValue, NOTARY_NAME, postQuery, useTestBed, type Notary } from '../../api/test/notary-harness';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

// The query-path test bed; its CA is also trusted by the workers this file builds itself.
const { notary, origin, caPem } = useTestBed();

function query(n: Notary, serverName: string, keyIds: string[] = [], minValidUntilTs?: number, api = 0) {
  const criteria: Record<string, unknown> = {};
  for (const k of keyIds) criteria[k] = minValidUntilTs === undefined ? {} : { minimum_valid_until_ts: minValidUntilTs };
  return postQuery(n.url('/_matrix/key/v2/query', api), { server_keys: { [serverName]: criteria } });
}

const refused = (n: Notary, reason: string) => counterValue(n.registries, 'matrix_notary_origin_responses_refused_total', { reason });

/** A retired key that was never a key pair of the origin's: only its public half matters. */
function strayKey(keyId: string): OriginKey {
  return FakeOrigin.newKey(keyId);
}

function logLines(n: Notary): Array<Record<string, unknown>> {
  return n.logs.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

describe('first seen wins', () => {
  test('a new body under a bound key ID is refused as a collision, counted, logged with both fingerprints; the last accepted response is still served', async () => {
    const n = await notary();
    const o = await origin();
    const original = o.current[0];
    const first = await query(n, o.serverName);
    expect(first.json.server_keys[0].verify_keys['ed25519:a1'].key).toBe(original.publicKeyBase64);

    const impostor = FakeOrigin.newKey('ed25519:a1'); // the same key ID, another key
    o.current = [impostor];
    o.validUntilTs += DAY_MS;
    const second = await query(n, o.serverName, ['ed25519:a1'], o.validUntilTs - 1000); // forces a fetch
    expect(o.fetches).toBe(2);
    expect(second.json.server_keys).toHaveLength(1);
    expect(second.json.server_keys[0].verify_keys['ed25519:a1'].key).toBe(original.publicKeyBase64);
    expect(await refused(n, 'collision')).toBe(1);
    expect(await counterValue(n.registries, 'matrix_notary_key_collisions_total')).toBe(1);

    const line = logLines(n).find((l) => l.reason === 'collision')!;
    expect(line).toMatchObject({
      origin: o.serverName,
      keyId: 'ed25519:a1',
      boundKeySha256: keyFingerprint(original.publicKeyBase64),
      offeredKeySha256: keyFingerprint(impostor.publicKeyBase64),
    });
    expect(n.logs.join('')).not.toContain(impostor.publicKeyBase64);
  });

  test('holds after the stored response has expired (NOTARY_MIN_KEY_VALIDITY_S=0)', async () => {
    const n = await notary({ env: { NOTARY_MIN_KEY_VALIDITY_S: '0' } });
    const o = await origin();
    const original = o.current[0];
    o.validUntilTs = Date.now() - HOUR_MS; // expired already when fetched
    await query(n, o.serverName, [], o.validUntilTs);
    o.current = [FakeOrigin.newKey('ed25519:a1')];
    o.validUntilTs = Date.now() + DAY_MS;
    const res = await query(n, o.serverName, ['ed25519:a1']); // the stored one is expired: fetches
    expect(o.fetches).toBe(2);
    expect(await refused(n, 'collision')).toBe(1);
    expect(res.json.server_keys).toHaveLength(1);
    expect(res.json.server_keys[0].verify_keys['ed25519:a1'].key).toBe(original.publicKeyBase64);
  });

  test('two workers racing to bind one new key ID to two bodies: one stores, the other is refused as a collision', async () => {
    const n = await notary({ workers: 1 });
    const o = await origin();
    const bodies = [FakeOrigin.newKey('ed25519:new'), FakeOrigin.newKey('ed25519:new')];
    let served = 0;
    o.override = () => {
      const key = bodies[served++ % 2];
      return o.sign({ ...o.unsignedResponse(), verify_keys: { 'ed25519:new': { key: key.publicKeyBase64 } } }, [key]);
    };
    const release = o.hold(); // both fetches are in flight at once, and both reach the store

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'race-'));
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, caPem());
    const reader = new VariableReader({
      NOTARY_SERVER_NAME: NOTARY_NAME,
      NOTARY_SIGNER_TOKEN: 'unused-in-process-token',
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
      NOTARY_FEDERATION_CA_FILE: caFile,
      NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
    });
    const config = readWorkerConfig(reader);
    reader.done();
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    const logger = createLogger({ role: 'race', level: 'silent', destination: sink });
    const workers = [0, 1].map((i) => {
      const redis = createRedis(testRedisUrl(), { connectionName: `race-worker-${i}` });
      const registry = new Registry();
      const deps: RefreshDeps = {
        store: new KeyStore(redis, { prefix: n.prefix }),
        events: new FetchEventPublisher(redis, n.prefix),
        fetcher: new FederationClient({ ...config.origin, registry }),
        signer: n.signer,
        gate: new SignerGate(() => n.signer.ownKeys()),
        // A lease of 1 ms: the second claim is not held back by the first fetch, so both fetches
        // run at once and race to bind the key ID in the store (single flight is the claim's job,
        // tested elsewhere; here the binding itself must hold).
        policy: { notaryServerName: NOTARY_NAME, minIntervalMs: 0, maxBackoffMs: 0, minKeyValidityMs: HOUR_MS, fetchLeaseMs: 1 },
        logger,
        metrics: createWorkerMetrics(registry),
      };
      return { deps, redis, registry };
    });
    try {
      const refresh = (i: number) => refreshOrigin(o.serverName, workers[i].deps, { claimant: `race-${i}`, keep: async () => undefined });
      // The second starts once the first's request has reached the origin (so after its 1 ms
      // lease); the origin answers both once both have asked.
      const first = refresh(0);
      for (let i = 0; i < 200 && o.fetches === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const second = refresh(1);
      for (let i = 0; i < 200 && o.fetches < 2; i++) await new Promise((r) => setTimeout(r, 10));
      release();
      const outcomes = await Promise.all([first, second]);
      expect({ fetches: o.fetches, outcomes: outcomes.sort() }).toEqual({ fetches: 2, outcomes: ['refused', 'stored'] });
      expect(await counterValue(workers.map((w) => w.registry), 'matrix_notary_key_collisions_total')).toBe(1);
      const res = await query(n, o.serverName, ['ed25519:new']);
      const bound = res.json.server_keys[0].verify_keys['ed25519:new'].key;
      expect(bodies.map((b) => b.publicKeyBase64)).toContain(bound);
      // Whichever won is what every later answer gives.
      expect((await query(n, o.serverName, [])).json.server_keys[0].verify_keys['ed25519:new'].key).toBe(bound);
    } finally {
      for (const w of workers) {
        await (w.deps.fetcher as FederationClient).close();
        await w.redis.quit();
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('malformed payloads are refused whole', () => {
  function withKeys(o: FakeOrigin, verify: number, old: number): void {
    const extraVerify = Array.from({ length: verify - 1 }, (_, i) => strayKey(`ed25519:v${i}`));
    const retired = Array.from({ length: old }, (_, i) => ({ key: strayKey(`ed25519:o${i}`), expiredTs: 1000 + i }));
    o.current = [o.current[0], ...extraVerify];
    o.old = retired;
    o.override = () => o.sign(o.unsignedResponse(), [o.current[0]]);
  }

  test('50 verify_keys are accepted; 51 are malformed', async () => {
    const n = await notary();
    const ok = await origin();
    withKeys(ok, 50, 0);
    expect((await query(n, ok.serverName)).json.server_keys).toHaveLength(1);
    const bad = await origin();
    withKeys(bad, 51, 0);
    expect((await query(n, bad.serverName)).json.server_keys).toEqual([]);
    expect(await refused(n, 'malformed')).toBe(1);
  });

  test('3,000 old_verify_keys are accepted; 3,001 are malformed', async () => {
    const n = await notary();
    const ok = await origin();
    withKeys(ok, 1, 3000);
    const res = await query(n, ok.serverName, ['ed25519:o2999']);
    expect(res.json.server_keys).toHaveLength(1);
    expect(Object.keys(res.json.server_keys[0].old_verify_keys)).toHaveLength(3000);
    const bad = await origin();
    withKeys(bad, 1, 3001);
    expect((await query(n, bad.serverName)).json.server_keys).toEqual([]);
    expect(await refused(n, 'malformed')).toBe(1);
  });

  test('one key ID with two bodies across verify_keys and old_verify_keys is malformed', async () => {
    const n = await notary();
    const o = await origin();
    o.old = [{ key: { ...strayKey('ed25519:a1') }, expiredTs: 1000 }]; // ed25519:a1 is also current
    o.override = () => o.sign(o.unsignedResponse());
    expect((await query(n, o.serverName)).json.server_keys).toEqual([]);
    expect(await refused(n, 'malformed')).toBe(1);
  });

  test('a member name repeated in any object, however deep, is malformed (the raw bytes are parsed strictly)', async () => {
    const n = await notary();
    const o = await origin();
    o.extraFields = { 'org.example.deep': { a: { b: { c: 1 } } } };
    o.rawBody = () => encodeCanonicalJson(o.response()).replace('"c":1', '"c":1,"c":2');
    expect((await query(n, o.serverName)).json.server_keys).toEqual([]);
    expect(await refused(n, 'malformed')).toBe(1);
    expect(o.fetches).toBe(1);
  });
});

describe('an expired_ts more than 5 minutes ahead', () => {
  test('is not used to answer for that key ID, while the rest of the payload still serves', async () => {
    const n = await notary();
    const o = await origin();
    o.old = [{ key: strayKey('ed25519:future'), expiredTs: Date.now() + DAY_MS }];
    const current = await query(n, o.serverName, ['ed25519:a1']);
    expect(current.json.server_keys).toHaveLength(1);
    expect(current.json.server_keys[0].old_verify_keys).toHaveProperty(['ed25519:future']); // served as the origin signed it
    // Asked for that key alone: the notary fetches once more, and still cannot answer: absent.
    const only = await query(n, o.serverName, ['ed25519:future']);
    expect(only.json.server_keys).toEqual([]);
    expect(o.fetches).toBe(2);
  });

  test('leaves the key answered by the older response that held it when it was current', async () => {
    const n = await notary();
    const o = await origin();
    await query(n, o.serverName);
    o.rotate('ed25519:b2', Date.now() + DAY_MS); // a1 retired with an expired_ts a day ahead
    o.validUntilTs += DAY_MS;
    await query(n, o.serverName, ['ed25519:b2']);
    expect(o.fetches).toBe(2);
    const res = await query(n, o.serverName, ['ed25519:a1']);
    expect(res.json.server_keys.map((e: any) => Object.keys(e.verify_keys))).toEqual([['ed25519:a1'], ['ed25519:b2']]);
  });
});

test('at 3,000 + 2 retired key IDs, the two never seen active with the oldest retirement are no longer answerable', async () => {
  const n = await notary();
  const o = await origin();
  const now = Date.now();
  const spray = Array.from({ length: 2997 }, (_, i) => ({ key: strayKey(`ed25519:n${i}`), expiredTs: now - DAY_MS + i }));
  o.current = ['ed25519:k1', 'ed25519:k2', 'ed25519:k3'].map((id) => FakeOrigin.newKey(id));
  o.old = spray;
  o.override = () => o.sign(o.unsignedResponse(), [o.current[0]]);
  await query(n, o.serverName);
  // k1 retired long ago (expired_ts 1), k2 and k3 dropped silently: 3,000 retired key IDs.
  const [k1] = o.current;
  o.current = [FakeOrigin.newKey('ed25519:cur')];
  o.old = [{ key: k1, expiredTs: 1 }, ...spray];
  o.validUntilTs += DAY_MS;
  await query(n, o.serverName, ['ed25519:cur']);
  // Two more: the current key retired and one never seen active, both recent. 3,002.
  const cur = o.current[0];
  o.current = [FakeOrigin.newKey('ed25519:cur2')];
  o.old = [{ key: cur, expiredTs: now }, { key: strayKey('ed25519:late'), expiredTs: now }];
  o.validUntilTs += DAY_MS;
  await query(n, o.serverName, ['ed25519:cur2']);
  expect(o.fetches).toBe(3);

  const served = async (keyId: string) => (await query(n, o.serverName, [keyId])).json.server_keys.map((e: any) => Object.keys(e.verify_keys)[0]);
  expect(await served('ed25519:n0')).toEqual([]);
  expect(await served('ed25519:n1')).toEqual([]);
  expect(await served('ed25519:n2')).toEqual(['ed25519:cur', 'ed25519:cur2']); // from the second response
  expect(await served('ed25519:k1')).toEqual(['ed25519:cur', 'ed25519:cur2']);
  expect(await served('ed25519:k2')).toEqual(['ed25519:k1', 'ed25519:cur2']); // from the first response
  expect(await served('ed25519:late')).toEqual(['ed25519:cur2']);
  const scrape = await n.registries[0].metrics();
  expect(scrape).toMatch(/matrix_notary_key_bindings_evicted_total\{reason="retired_limit"\} 2\n/);
  expect(scrape).toMatch(/matrix_notary_key_bindings 3001\n/);
});

describe('banned keys (NOTARY_BANNED_KEYS_FILE)', () => {
  function banFile(entries: unknown): { file: string; cleanup: () => void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'banned-'));
    const file = path.join(dir, 'banned-keys.json');
    fs.writeFileSync(file, JSON.stringify(entries));
    return { file, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  }

  test('a response holding a banned key is refused (banned_key); the server is absent', async () => {
    const o = await origin();
    const ban = banFile([{ key: o.current[0].publicKeyBase64, note: 'test: leaked' }]);
    try {
      const n = await notary({ env: { NOTARY_BANNED_KEYS_FILE: ban.file } });
      const clean = await origin();
      const res = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [o.serverName]: {}, [clean.serverName]: {} } });
      expect(res.json.server_keys.map((e: any) => e.server_name)).toEqual([clean.serverName]);
      expect(await refused(n, 'banned_key')).toBe(1);
    } finally {
      ban.cleanup();
    }
  });

  test('a response stored before the ban named its key is never served once it does', async () => {
    const o = await origin();
    const before = await notary();
    const prefix = before.prefix;
    await query(before, o.serverName);
    expect(o.fetches).toBe(1);
    const ban = banFile([{ server_name: o.serverName, key_id: 'ed25519:a1', key: o.current[0].publicKeyBase64 }]);
    try {
      // Another deployment of the same store (same Redis prefix), now with the ban list.
      const after = await notary({ env: { NOTARY_BANNED_KEYS_FILE: ban.file, NOTARY_REDIS_PREFIX: prefix, NOTARY_ORIGIN_MIN_INTERVAL_S: '600' } });
      expect((await query(after, o.serverName)).json.server_keys).toEqual([]);
      expect((await query(after, o.serverName, ['ed25519:a1'])).json.server_keys).toEqual([]);
      // The notary without the list still serves it: the bytes in Redis are unchanged.
      expect((await query(before, o.serverName)).json.server_keys).toHaveLength(1);
    } finally {
      ban.cleanup();
    }
  });

  test('an origin that retires a banned key by republishing its ID with a throwaway key is accepted, not refused as a collision', async () => {
    const o = await origin();
    const leaked = FakeOrigin.newKey('ed25519:0');
    o.current = [leaked];
    const before = await notary();
    await query(before, o.serverName); // bound ed25519:0 to the leaked key before the ban
    await before.workers[0].stop(); // from now on only the notary with the ban list fetches
    const ban = banFile([{ key: leaked.publicKeyBase64 }]);
    try {
      const after = await notary({ env: { NOTARY_BANNED_KEYS_FILE: ban.file, NOTARY_REDIS_PREFIX: before.prefix } });
      // The remediation ESS ships: a new key ID, and the old one retired with a throwaway key.
      o.current = [FakeOrigin.newKey('ed25519:1')];
      o.old = [{ key: strayKey('ed25519:0'), expiredTs: Date.now() }];
      o.validUntilTs += DAY_MS;
      const res = await query(after, o.serverName, ['ed25519:1']);
      expect(res.json.server_keys).toHaveLength(1);
      expect(res.json.server_keys[0].old_verify_keys['ed25519:0'].key).toBe(o.old[0].key.publicKeyBase64);
      expect(await refused(after, 'collision')).toBe(0);
      expect(await after.registries[0].metrics()).toMatch(/matrix_notary_key_bindings_evicted_total\{reason="banned_key"\} 1\n/);
    } finally {
      ban.cleanup();
    }
  });

  test('a ban list that cannot be read stops the role with a message naming the variable', async () => {
    await expect(notary({ env: { NOTARY_BANNED_KEYS_FILE: '/nonexistent/banned.json' } })).rejects.toThrow(/NOTARY_BANNED_KEYS_FILE/);
    const bad = banFile([{ key: 'AAAA', server: 'typo.example' }]);
    try {
      await expect(notary({ env: { NOTARY_BANNED_KEYS_FILE: bad.file } })).rejects.toThrow(/unknown field "server"/);
    } finally {
      bad.cleanup();
    }
  });
});

