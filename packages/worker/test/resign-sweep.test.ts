/**
 * The re-sign sweep (resign-sweep.ts) on the test Redis with real signers: responses stored while
 * the notary signed with one key are countersigned again when a second key is added (and when one
 * is dropped), so every stored response — latest, older ones still answering for a key ID, expired
 * ones — carries exactly the signer's keys' signatures; the origin's signature and every binding
 * stay as they were. One worker sweeps at a time; a sweep that stops short records nothing and the
 * next check finishes it; a response stored meanwhile is not overwritten.
 */
import { Writable } from 'node:stream';
import { createLogger } from '@matrix-notary/common';
import {
  BannedKeys,
  encodeBase64,
  generateSeed,
  keyPairFromSeed,
  parseBannedKeyList,
  signJson,
  validateOriginKeyResponse,
  verifyJsonSignature,
  type Ed25519KeyPair,
  type JsonObject,
} from '@matrix-notary/protocol';
import { LocalSigner, type SigningKey } from '@matrix-notary/signer';
import { SignerRefusedError } from '@matrix-notary/signer-client';
import { createRedis, KeyStore, parseStoredResponse, StoredResponses, type Redis } from '@matrix-notary/store';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { Counter, Registry } from 'prom-client';
import { keySetTag, notarySignatureKeyIds, ResignSweeper, type ResignDeps } from '../src/resign-sweep';
import { SignerGate } from '../src/signer-gate';

const NOTARY = 'notary.resign.test';
const DAY_MS = 24 * 60 * 60 * 1000;
const NOW_MS = Date.now();

const keyA: SigningKey = { version: 'a_old', seed: generateSeed() };
const keyB: SigningKey = { version: 'b_new', seed: generateSeed() };
const publicOf = (k: SigningKey) => keyPairFromSeed(k.seed).publicKey;
const signer = (key: SigningKey, ...extraKeys: SigningKey[]) => new LocalSigner({ serverName: NOTARY, key, extraKeys, ownKeyValidityMs: DAY_MS });

let redis: Redis;
let prefix: string;
let store: KeyStore;
let responses: StoredResponses;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'worker-test-resign' });
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix('resign');
  store = new KeyStore(redis, { prefix });
  responses = new StoredResponses(redis, prefix);
});
afterEach(async () => {
  await deletePrefix(prefix);
});

interface Origin {
  name: string;
  keys: Map<string, Ed25519KeyPair>;
}

function originResponse(origin: Origin, keyIds: string[], validUntilTs: number): Buffer {
  const body: JsonObject = {
    server_name: origin.name,
    valid_until_ts: validUntilTs,
    verify_keys: Object.fromEntries(keyIds.map((id) => [id, { key: encodeBase64(origin.keys.get(id)!.publicKey) }])),
    old_verify_keys: {},
  };
  let signed: JsonObject = body;
  for (const id of keyIds) signed = signJson(signed, origin.name, id, origin.keys.get(id)!.secretKey) as JsonObject;
  return Buffer.from(JSON.stringify(signed));
}

/** Stores what a refresh would: the origin's response countersigned by `by`. */
async function storeFrom(origin: Origin, keyIds: string[], by: LocalSigner, validUntilTs = NOW_MS + DAY_MS, atMs = NOW_MS): Promise<void> {
  const raw = originResponse(origin, keyIds, validUntilTs);
  const check = validateOriginKeyResponse(JSON.parse(raw.toString()), { serverName: origin.name, nowMs: atMs, minValidityMs: 0 });
  if (!check.ok) throw new Error(check.message);
  const result = await store.storeResponse(origin.name, await by.countersign(raw), { validUntilTs, keys: check.keys }, atMs, 0);
  if (!result.stored) throw new Error('not stored');
}

function newOrigin(i: number, keyIds = ['ed25519:k1', 'ed25519:k2']): Origin {
  return { name: `o${i}.example.org`, keys: new Map(keyIds.map((id) => [id, keyPairFromSeed(generateSeed())])) };
}

/** Every stored response of the prefix: its record field, bytes and header. */
async function everyStored(): Promise<Array<{ server: string; field: string; json: JsonObject; header: string }>> {
  const out: Array<{ server: string; field: string; json: JsonObject; header: string }> = [];
  for await (const batch of responses.recordKeys(100)) {
    for (const key of batch) {
      const fields = await redis.hgetallBuffer(key);
      for (const [field, value] of Object.entries(fields)) {
        if (field !== 'latest' && !field.startsWith('r:')) continue;
        const r = parseStoredResponse(value)!;
        out.push({ server: key.slice(`${prefix}:origin:{`.length, -1), field, json: JSON.parse(r.bytes.toString()), header: value.toString('latin1', 0, r.headerEnd) });
      }
    }
  }
  return out.sort((a, b) => (a.server + a.field < b.server + b.field ? -1 : 1));
}

function sweeper(by: Pick<LocalSigner, 'ownKeys' | 'countersign'>, extra: Partial<ResignDeps> = {}) {
  const lines: string[] = [];
  const registry = new Registry();
  const resigned = new Counter({ name: 'matrix_notary_resigned_responses_total', help: 'test', labelNames: ['outcome'], registers: [registry] });
  const pauses: number[] = [];
  const sweep = new ResignSweeper({
    responses,
    signer: by,
    gate: new SignerGate(async () => undefined),
    notaryServerName: NOTARY,
    logger: createLogger({ role: 'worker', level: 'debug', destination: new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }) }),
    resigned,
    batchSize: 7,
    pause: async (ms) => void pauses.push(ms),
    ...extra,
  });
  const count = async (outcome: string) => (await resigned.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
  const logs = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { sweep, count, logs, pauses };
}

test('after a key is added, every stored response (latest, older, expired) is re-signed by both keys; origin signatures and bindings stay', async () => {
  const old = signer(keyA);
  const origins = Array.from({ length: 20 }, (_, i) => newOrigin(i));
  for (const o of origins) await storeFrom(o, ['ed25519:k1', 'ed25519:k2'], old);
  // An origin that rotated: k1 is answered by its older response (r:1), k3 by the latest.
  const rotated = newOrigin(100, ['ed25519:k1', 'ed25519:k3']);
  await storeFrom(rotated, ['ed25519:k1'], old);
  await storeFrom(rotated, ['ed25519:k3'], old, NOW_MS + DAY_MS, NOW_MS + 1000);
  // An origin whose only response expired long ago: still served (behaviour 3), so still re-signed.
  const expired = newOrigin(101, ['ed25519:k1']);
  await storeFrom(expired, ['ed25519:k1'], old, NOW_MS - 30 * DAY_MS, NOW_MS - 31 * DAY_MS);

  const before = await everyStored();
  expect(before).toHaveLength(23);
  expect(before.every((s) => notarySignatureKeyIds(Buffer.from(JSON.stringify(s.json)), NOTARY).join() === 'ed25519:a_old')).toBe(true);

  const both = signer(keyA, keyB);
  const { sweep, count, logs, pauses } = sweeper(both);
  const report = (await sweep.check())!;
  expect(report).toMatchObject({ complete: true, records: 22, responses: 23, upToDate: 0, resigned: 23, raced: 0, refused: 0 });
  expect(await count('resigned')).toBe(23);
  expect(pauses.length).toBeGreaterThanOrEqual(3); // batches of about 7 records, a pause after each

  const after = await everyStored();
  expect(after.map((s) => [s.server, s.field, s.header])).toEqual(before.map((s) => [s.server, s.field, s.header]));
  for (const [i, s] of after.entries()) {
    expect(Object.keys((s.json.signatures as Record<string, object>)[NOTARY]).sort()).toEqual(['ed25519:a_old', 'ed25519:b_new']);
    expect(verifyJsonSignature(s.json, NOTARY, 'ed25519:a_old', publicOf(keyA))).toBe(true);
    expect(verifyJsonSignature(s.json, NOTARY, 'ed25519:b_new', publicOf(keyB))).toBe(true);
    // The origin's own signatures are the ones it made: unchanged bytes.
    expect((s.json.signatures as JsonObject)[s.server]).toEqual((before[i].json.signatures as JsonObject)[s.server]);
    const { signatures: _a, ...content } = s.json;
    const { signatures: _b, ...was } = before[i].json;
    expect(content).toEqual(was);
  }

  const started = logs().find((l) => /re-signing them in the background/.test(String(l.msg)));
  expect(started).toMatchObject({ level: 'info', keyIds: ['ed25519:a_old', 'ed25519:b_new'] });
  const finished = logs().find((l) => /every stored response now carries a signature by each signing key/.test(String(l.msg)));
  expect(finished).toMatchObject({ level: 'info', records: 22, responses: 23, resigned: 23 });

  // Done for the cluster: this worker and any other find nothing to do.
  expect(await responses.sweptTag()).toBe(keySetTag((await both.ownKeys()).verifyKeys));
  expect(await sweep.check()).toBeUndefined();
  const other = sweeper(both);
  expect(await other.sweep.check()).toBeUndefined();
  expect(await other.count('resigned')).toBe(0);
});

test('swapping current and extra key changes nothing; dropping the old key re-signs with the new one alone', async () => {
  const origins = Array.from({ length: 5 }, (_, i) => newOrigin(i));
  for (const o of origins) await storeFrom(o, ['ed25519:k1'], signer(keyA, keyB));
  expect((await sweeper(signer(keyA, keyB)).sweep.check())?.upToDate).toBe(5);

  // Step 3 of the rotation: the new key current, the old one extra. Same key set, same tag.
  expect(await sweeper(signer(keyB, keyA)).sweep.check()).toBeUndefined();

  // Step 4: the old key retired.
  const { sweep } = sweeper(signer(keyB));
  expect(await sweep.check()).toMatchObject({ complete: true, resigned: 5 });
  for (const s of await everyStored()) {
    expect(Object.keys((s.json.signatures as Record<string, object>)[NOTARY])).toEqual(['ed25519:b_new']);
    expect(verifyJsonSignature(s.json, NOTARY, 'ed25519:b_new', publicOf(keyB))).toBe(true);
  }
});

test('a response stored while the sweep countersigns is left as stored (raced); the replaced one is not resurrected', async () => {
  const old = signer(keyA);
  const both = signer(keyA, keyB);
  const origin = newOrigin(1, ['ed25519:k1']);
  await storeFrom(origin, ['ed25519:k1'], old);
  const racing = {
    ownKeys: () => both.ownKeys(),
    async countersign(body: Buffer) {
      // A refresh stores the origin's newer response (countersigned by both keys) meanwhile.
      await storeFrom(origin, ['ed25519:k1'], both, NOW_MS + 2 * DAY_MS, NOW_MS + 1000);
      return both.countersign(body);
    },
  };
  const { sweep, count } = sweeper(racing);
  expect(await sweep.check()).toMatchObject({ complete: true, resigned: 0, raced: 1 });
  expect(await count('raced')).toBe(1);
  const stored = await everyStored();
  expect(stored.map((s) => [s.field, s.json.valid_until_ts])).toEqual([['latest', NOW_MS + 2 * DAY_MS]]);
});

test('a signer outage stops the sweep (nothing recorded, the gate told); the next check finishes it', async () => {
  const old = signer(keyA);
  const both = signer(keyA, keyB);
  for (let i = 0; i < 10; i++) await storeFrom(newOrigin(i), ['ed25519:k1'], old);
  let calls = 0;
  const flaky = {
    ownKeys: () => both.ownKeys(),
    countersign: async (body: Buffer) => {
      if (++calls === 4) throw new Error('connect ECONNREFUSED 127.0.0.1:8081');
      return both.countersign(body);
    },
  };
  const gate = new SignerGate(async () => undefined);
  const { sweep, count, logs } = sweeper(flaky, { gate });
  expect(await sweep.check()).toMatchObject({ complete: false, resigned: 3, stoppedBecause: expect.stringMatching(/signer is unavailable/) });
  expect(await count('unavailable')).toBe(1);
  expect(await responses.sweptTag()).toBeUndefined();
  expect(await gate.ready()).toBe(false); // down, and probed again only after PROBE_EVERY_MS
  expect(logs().find((l) => l.level === 'warn')).toMatchObject({ resigned: 3, reason: expect.stringMatching(/ECONNREFUSED/) });
  // The lock was released: the next check (here: of another worker) goes ahead at once.
  expect(await sweeper(both).sweep.check()).toMatchObject({ complete: true, upToDate: 3, resigned: 7 });
});

test('one worker sweeps at a time; a signer refusal is counted and the sweep goes on', async () => {
  const old = signer(keyA);
  const both = signer(keyA, keyB);
  for (let i = 0; i < 4; i++) await storeFrom(newOrigin(i), ['ed25519:k1'], old);
  expect(await responses.lock('another-worker', 60_000)).toBe(true);
  expect(await sweeper(both).sweep.check()).toBeUndefined();
  await responses.unlock('another-worker');

  const refusing = {
    ownKeys: () => both.ownKeys(),
    countersign: async (body: Buffer) => {
      if (body.includes('o2.example.org')) throw new SignerRefusedError('no_valid_signature', 'no valid signature');
      return both.countersign(body);
    },
  };
  const { sweep, count } = sweeper(refusing);
  expect(await sweep.check()).toMatchObject({ complete: true, resigned: 3, refused: 1 });
  expect(await count('refused')).toBe(1);
});

test('responses holding a banned key are never served, and are left alone', async () => {
  const old = signer(keyA);
  const bad = newOrigin(1, ['ed25519:k1']);
  await storeFrom(bad, ['ed25519:k1'], old);
  await storeFrom(newOrigin(2, ['ed25519:k1']), ['ed25519:k1'], old);
  const bannedKeys = new BannedKeys(parseBannedKeyList([{ key: encodeBase64(bad.keys.get('ed25519:k1')!.publicKey), note: 'leaked' }]));
  const { sweep } = sweeper(signer(keyA, keyB), { bannedKeys });
  expect(await sweep.check()).toMatchObject({ complete: true, resigned: 1, bannedLeftAlone: 1 });
});

test('started, it notices a change of the signer\'s key set at its next check', async () => {
  for (let i = 0; i < 3; i++) await storeFrom(newOrigin(i), ['ed25519:k1'], signer(keyA));
  let current = signer(keyA);
  const switching = { ownKeys: () => current.ownKeys(), countersign: (b: Buffer) => current.countersign(b) };
  const { sweep, count } = sweeper(switching, { checkIntervalMs: 20 });
  sweep.start();
  try {
    const tagA = keySetTag((await signer(keyA).ownKeys()).verifyKeys);
    const tagAB = keySetTag((await signer(keyA, keyB).ownKeys()).verifyKeys);
    expect(await until(async () => (await responses.sweptTag()) === tagA)).toBe(true);
    expect(await count('resigned')).toBe(0);
    current = signer(keyA, keyB); // the signer restarted with an extra key
    expect(await until(async () => (await responses.sweptTag()) === tagAB)).toBe(true);
    expect(await count('resigned')).toBe(3);
  } finally {
    await sweep.stop();
  }
});

/** Polls every 20 ms, at most 250 times. */
async function until(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 250; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}
