/**
 * NOTARY_UPSTREAM_NOTARIES_FILE end to end in one process: real api and worker on the test Redis,
 * real HTTPS origins (FakeOrigin), and the keyring's fake notary as the upstream, over HTTP and
 * HTTPS on loopback. An upstream is asked only when the origin cannot be reached and nothing is
 * held for it; what it says is checked, countersigned and stored with provisional bindings, which
 * a later fetch from the origin itself confirms or overrides.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger, VariableReader } from '@matrix-notary/common';
import { encodeBase64, keyFingerprint, signDetached, signedBytes, verifyJsonSignature, type JsonObject } from '@matrix-notary/protocol';
import { createRedis, describeOriginRecord, KeyStore, UpstreamLimits } from '@matrix-notary/store';
import { createTestCa, FakeOrigin, testRedisUrl, type OriginKey } from '@matrix-notary/testing';
import { Registry } from 'prom-client';
import { makeKey, type TestKey } from '../../keyring/test/helpers';
import { startFakeNotary, type FakeNotary } from '../../keyring/test/fake-notary';
import { counterValue, NOTARY_NAME, postQuery, useTestBed, type Notary } from '../../api/test/notary-harness';
import { createWorkerMetrics, readWorkerConfig, UpstreamNotaries } from '../src';
import { SignerGate } from '../src/signer-gate';

const DAY_MS = 24 * 60 * 60 * 1000;
const UPSTREAM = 'upstream.test';

const bed = useTestBed();
let dir: string;
const closers: Array<() => Promise<void>> = [];
let upstreamKey: TestKey;

beforeAll(async () => {
  upstreamKey = await makeKey('ed25519:up1');
});
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'upstreams-'));
});
afterEach(async () => {
  while (closers.length) await closers.pop()!();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface UpstreamSpec {
  notary: FakeNotary;
  serverName?: string;
  key?: TestKey;
}

/** A fake upstream notary serving the given origin responses, countersigned with `upstreamKey` unless told otherwise. */
async function fakeUpstream(origins: Record<string, JsonObject[]>, extra: Partial<Parameters<typeof startFakeNotary>[0]> = {}): Promise<FakeNotary> {
  const notary = await startFakeNotary({ serverName: UPSTREAM, key: upstreamKey, origins: new Map(Object.entries(origins)), ...extra });
  closers.push(() => notary.close());
  return notary;
}

function upstreamsFile(specs: UpstreamSpec[]): string {
  const file = path.join(dir, `upstreams-${Math.random().toString(36).slice(2)}.json`);
  const list = specs.map((s) => ({
    server_name: s.serverName ?? UPSTREAM,
    url: s.notary.url,
    verify_keys: { [(s.key ?? upstreamKey).keyId]: (s.key ?? upstreamKey).publicKeyBase64 },
  }));
  fs.writeFileSync(file, JSON.stringify(list));
  return file;
}

async function notaryWith(specs: UpstreamSpec[], env: Record<string, string> = {}): Promise<Notary> {
  return bed.notary({ env: { NOTARY_UPSTREAM_NOTARIES_FILE: upstreamsFile(specs), ...env } });
}

function query(n: Notary, serverName: string, keyIds: string[] = [], minValidUntilTs?: number) {
  const criteria: Record<string, unknown> = {};
  for (const k of keyIds) criteria[k] = minValidUntilTs === undefined ? {} : { minimum_valid_until_ts: minValidUntilTs };
  return postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [serverName]: criteria } });
}

const upstreamAsks = (n: Notary, outcome: string) => counterValue(n.registries, 'matrix_notary_upstream_queries_total', { outcome });

async function inspect(n: Notary, serverName: string) {
  const redis = createRedis(testRedisUrl(), { connectionName: 'upstream-test-inspect' });
  try {
    const record = await new KeyStore(redis, { prefix: n.prefix }).readRecord(serverName);
    return describeOriginRecord(serverName, record.fields);
  } finally {
    await redis.quit();
  }
}

/** Polls `check` every 50 ms, at most `tries` times. */
async function eventually(check: () => Promise<boolean>, tries = 100): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function logLines(n: Notary): Array<Record<string, unknown>> {
  return n.logs.join('').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
}

/** An origin whose current response the upstream holds, then offline for this notary. */
async function unreachableOrigin(): Promise<{ origin: FakeOrigin; known: JsonObject }> {
  const origin = await bed.origin();
  const known = origin.response() as JsonObject;
  origin.mode = 'offline';
  return { origin, known };
}

describe('an origin that cannot be reached, with nothing stored', () => {
  test('is learned from the upstream: served countersigned by this notary, bindings provisional, the origin\'s failure still recorded', async () => {
    const { origin, known } = await unreachableOrigin();
    const upstream = await fakeUpstream({ [origin.serverName]: [known] });
    const n = await notaryWith([{ notary: upstream }]);

    const res = await query(n, origin.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toHaveLength(1);
    const entry = res.json.server_keys[0];
    expect(verifyJsonSignature(entry, origin.serverName, 'ed25519:a1', origin.current[0].pair.publicKey)).toBe(true);
    expect(verifyJsonSignature(entry, NOTARY_NAME, n.signer.keyId, Buffer.from(n.signer.publicKey, 'base64'))).toBe(true);
    expect(Object.keys(entry.signatures).sort()).toEqual([NOTARY_NAME, origin.serverName].sort()); // the upstream's is dropped
    expect(upstream.queries).toEqual([{ server_keys: { [origin.serverName]: {} } }]);
    expect(origin.fetches).toBe(1);
    expect(await upstreamAsks(n, 'stored')).toBe(1);
    // The refresh ends (the origin's failure recorded) just after the learned keys are stored,
    // which a waiting query may see first.
    expect(await eventually(async () => (await counterValue(n.registries, 'matrix_notary_refreshes_total', { outcome: 'failed' })) === 1)).toBe(true);

    const report = await inspect(n, origin.serverName);
    expect(report.responses.map((r) => r.learned_from)).toEqual([UPSTREAM]);
    expect(report.bindings.map((b) => [b.key_id, b.provisional])).toEqual([['ed25519:a1', true]]);
    expect(report.fetch.failures_in_a_row).toBe(1);
    expect(report.fetch.last_error?.reason).toBe('connection');

    // Held now: the next query is a cache hit, and the upstream is not asked again.
    const again = await query(n, origin.serverName, ['ed25519:a1']);
    expect(again.json.server_keys).toHaveLength(1);
    expect(upstream.queries).toHaveLength(1);
  });

  test('the origin back: its own response confirms the learned bindings, which are then permanent', async () => {
    const { origin, known } = await unreachableOrigin();
    const upstream = await fakeUpstream({ [origin.serverName]: [known] });
    const n = await notaryWith([{ notary: upstream }]);
    await query(n, origin.serverName, ['ed25519:a1']);

    origin.mode = 'normal';
    origin.validUntilTs += DAY_MS;
    const res = await query(n, origin.serverName, ['ed25519:a1'], origin.validUntilTs - 1000); // forces a fetch
    expect(origin.fetches).toBe(2);
    expect(res.json.server_keys[0].valid_until_ts).toBe(origin.validUntilTs);
    const report = await inspect(n, origin.serverName);
    expect(report.bindings.map((b) => [b.key_id, b.provisional])).toEqual([['ed25519:a1', false]]);
    expect(report.responses.map((r) => r.learned_from)).toEqual([null]);
    expect(logLines(n).some((l) => /the origin confirmed key IDs learned from an upstream notary/.test(String(l.msg)))).toBe(true);

    // Permanent: another body under that key ID is a collision from now on.
    origin.current = [FakeOrigin.newKey('ed25519:a1')];
    origin.validUntilTs += DAY_MS;
    await query(n, origin.serverName, ['ed25519:a1'], origin.validUntilTs - 1000);
    expect(await counterValue(n.registries, 'matrix_notary_key_collisions_total')).toBe(1);
  });

  test('the origin back with another key under a learned key ID: it overrides the upstream (no collision) and is served', async () => {
    const origin = await bed.origin();
    const learnedKey: OriginKey = origin.current[0];
    const learned = origin.response() as JsonObject;
    const realKey = FakeOrigin.newKey('ed25519:a1');
    origin.current = [realKey];
    origin.mode = 'offline';
    const upstream = await fakeUpstream({ [origin.serverName]: [learned] });
    const n = await notaryWith([{ notary: upstream }]);
    const first = await query(n, origin.serverName, ['ed25519:a1']);
    expect(first.json.server_keys[0].verify_keys['ed25519:a1'].key).toBe(learnedKey.publicKeyBase64);

    origin.mode = 'normal';
    origin.validUntilTs += DAY_MS;
    const res = await query(n, origin.serverName, ['ed25519:a1'], origin.validUntilTs - 1000);
    expect(res.json.server_keys).toHaveLength(1);
    expect(res.json.server_keys[0].verify_keys['ed25519:a1'].key).toBe(realKey.publicKeyBase64);
    expect(await counterValue(n.registries, 'matrix_notary_key_collisions_total')).toBe(0);
    const line = logLines(n).find((l) => /the origin wins \(MSC4499\)/.test(String(l.msg)))!;
    expect(line).toMatchObject({
      level: 'warn',
      origin: origin.serverName,
      upstream: UPSTREAM,
      keyIds: ['ed25519:a1'],
      learnedKeySha256: [keyFingerprint(learnedKey.publicKeyBase64)],
      fetchedKeySha256: [keyFingerprint(realKey.publicKeyBase64)],
    });
    const report = await inspect(n, origin.serverName);
    expect(report.responses).toHaveLength(1);
    expect(report.bindings.map((b) => [b.key, b.provisional])).toEqual([[realKey.publicKeyBase64, false]]);
  });

  test('an upstream whose signature is not by its pinned key is refused; the next upstream listed is asked and answers', async () => {
    const { origin, known } = await unreachableOrigin();
    const liar = await fakeUpstream({ [origin.serverName]: [known] }, { countersignWith: await makeKey('ed25519:up1') });
    const good = await fakeUpstream({ [origin.serverName]: [known] }, { serverName: 'second.test' });
    const n = await notaryWith([{ notary: liar }, { notary: good, serverName: 'second.test' }]);
    const res = await query(n, origin.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toHaveLength(1);
    expect([liar.queries.length, good.queries.length]).toEqual([1, 1]);
    expect([await upstreamAsks(n, 'refused'), await upstreamAsks(n, 'stored')]).toEqual([1, 1]);
    const refusal = logLines(n).find((l) => l.upstream === UPSTREAM && l.reason === 'bad_notary_signature');
    expect(refusal).toMatchObject({ level: 'warn', origin: origin.serverName });
    expect((await inspect(n, origin.serverName)).responses.map((r) => r.learned_from)).toEqual(['second.test']);
  });

  test('an upstream that alters the origin\'s keys is refused: nothing stored, the server absent from the answer', async () => {
    const { origin, known } = await unreachableOrigin();
    const forged = FakeOrigin.newKey('ed25519:a1');
    const upstream = await fakeUpstream(
      { [origin.serverName]: [known] },
      { tamper: (r) => ({ ...r, verify_keys: { 'ed25519:a1': { key: forged.publicKeyBase64 } } }) },
    );
    const n = await notaryWith([{ notary: upstream }]);
    const res = await query(n, origin.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toEqual([]);
    expect(await upstreamAsks(n, 'refused')).toBe(1);
    expect(logLines(n).find((l) => l.upstream === UPSTREAM)).toMatchObject({ reason: 'bad_signature' });
    expect((await inspect(n, origin.serverName)).responses).toEqual([]);
  });

  test.each<[string, (origin: FakeOrigin, known: JsonObject) => Parameters<typeof fakeUpstream>, string]>([
    [
      'a forged origin signature (the keys as the origin gave them, signed by another key under its key ID)',
      (origin, known) => {
        const forger = FakeOrigin.newKey('ed25519:a1');
        const forge = (r: JsonObject): JsonObject => ({
          ...r,
          signatures: { [origin.serverName]: { 'ed25519:a1': encodeBase64(signDetached(signedBytes(r), forger.pair.secretKey)) } },
        });
        return [{ [origin.serverName]: [known] }, { tamper: forge }];
      },
      'bad_signature',
    ],
    [
      'a colliding key body (two responses, both signed by the origin, giving its key ID two keys)',
      (origin, known) => {
        origin.current = [FakeOrigin.newKey('ed25519:a1')];
        return [{ [origin.serverName]: [known, origin.response() as JsonObject] }];
      },
      'collision',
    ],
  ])('an upstream answer with %s is refused: nothing stored, counted, logged', async (_label, build, reason) => {
    const { origin, known } = await unreachableOrigin();
    const upstream = await fakeUpstream(...build(origin, known));
    const n = await notaryWith([{ notary: upstream }]);
    const res = await query(n, origin.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toEqual([]);
    expect(upstream.queries).toHaveLength(1);
    expect([await upstreamAsks(n, 'refused'), await upstreamAsks(n, 'stored')]).toEqual([1, 0]);
    expect(logLines(n).find((l) => l.upstream === UPSTREAM)).toMatchObject({ level: 'warn', reason });
    expect((await inspect(n, origin.serverName)).responses).toEqual([]);
  });

  test('an upstream answered over HTTPS (certificate from the test CA) is asked like one over HTTP', async () => {
    const { origin, known } = await unreachableOrigin();
    const tls = await bed.issue({ ips: ['127.0.0.1'] });
    const upstream = await fakeUpstream({ [origin.serverName]: [known] }, { tls });
    expect(upstream.url).toMatch(/^https:/);
    const n = await notaryWith([{ notary: upstream }]);
    const res = await query(n, origin.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toHaveLength(1);
    expect(await upstreamAsks(n, 'stored')).toBe(1);
  });

  test('an upstream that knows nothing is counted empty; one that never answers is cut off (failed) and the answer still comes', async () => {
    const { origin } = await unreachableOrigin();
    const empty = await fakeUpstream({});
    const silent = await fakeUpstream({}, { failures: ['hang'] });
    const n = await notaryWith([{ notary: empty }, { notary: silent, serverName: 'silent.test' }], { NOTARY_ORIGIN_TIMEOUT_MS: '500', NOTARY_FETCH_WAIT_MS: '3000' });
    const res = await query(n, origin.serverName);
    expect(res.json.server_keys).toEqual([]);
    expect([await upstreamAsks(n, 'empty'), await upstreamAsks(n, 'failed')]).toEqual([1, 1]);
    expect(logLines(n).find((l) => l.upstream === 'silent.test')).toMatchObject({ level: 'warn', reason: 'timeout' });
  });

  test('20 concurrent queries for one unreachable origin ask the upstream once (one claim covers the fetch and the asks)', async () => {
    const { origin, known } = await unreachableOrigin();
    const upstream = await fakeUpstream({ [origin.serverName]: [known] });
    const n = await notaryWith([{ notary: upstream }]);
    const answers = await Promise.all(Array.from({ length: 20 }, () => query(n, origin.serverName, ['ed25519:a1'])));
    expect(answers.every((a) => a.json.server_keys.length === 1)).toBe(true);
    expect([origin.fetches, upstream.queries.length]).toEqual([1, 1]);
  });
});

describe('when the upstreams are not asked', () => {
  test('an origin held already (even expired) is served stale when unreachable: the upstream is never asked', async () => {
    const origin = await bed.origin();
    const upstream = await fakeUpstream({ [origin.serverName]: [origin.response() as JsonObject] });
    const n = await notaryWith([{ notary: upstream }]);
    await query(n, origin.serverName);
    origin.mode = 'offline';
    const res = await query(n, origin.serverName, ['ed25519:a1'], origin.validUntilTs + DAY_MS);
    expect(origin.fetches).toBe(2);
    expect(res.json.server_keys).toHaveLength(1);
    expect(upstream.queries).toEqual([]);
  });

  test('an origin that answers, even with garbage, is not "unreachable": the upstream is not asked', async () => {
    const origin = await bed.origin();
    const upstream = await fakeUpstream({ [origin.serverName]: [origin.response() as JsonObject] });
    origin.mode = 'garbage';
    const n = await notaryWith([{ notary: upstream }]);
    const res = await query(n, origin.serverName);
    expect(res.json.server_keys).toEqual([]);
    expect(upstream.queries).toEqual([]);
  });

  test('never for a server whose discovery led to a forbidden address, even though the upstream holds it', async () => {
    // 127.0.0.50 is not in the notary's NOTARY_ALLOWED_ADDRESSES (only 127.0.0.1 is).
    const outside = await FakeOrigin.start({ ca: await createTestCa(), bind: '127.0.0.50' });
    closers.push(() => outside.stop());
    const upstream = await fakeUpstream({ [outside.serverName]: [outside.response() as JsonObject] });
    const n = await notaryWith([{ notary: upstream }]);
    const res = await query(n, outside.serverName, ['ed25519:a1']);
    expect(res.json.server_keys).toEqual([]);
    expect(await eventually(async () => (await counterValue(n.registries, 'matrix_notary_refreshes_total', { outcome: 'failed' })) === 1)).toBe(true);
    expect(upstream.queries).toEqual([]);
    expect(outside.fetches).toBe(0);
    expect(await upstreamAsks(n, 'stored') + (await upstreamAsks(n, 'failed'))).toBe(0);
    expect(logLines(n).find((l) => /not asking upstream notaries/.test(String(l.msg)))).toMatchObject({ level: 'info', origin: outside.serverName });
    expect((await inspect(n, outside.serverName)).fetch.last_error?.reason).toBe('forbidden_address');
  });

  test("never about the notary's own name", async () => {
    const poster = { calls: 0, postJson: async () => ((poster.calls += 1), { statusCode: 200, body: Buffer.from('{"server_keys":[]}') }) };
    const redis = createRedis(testRedisUrl(), { connectionName: 'upstream-own-name' });
    closers.push(async () => void (await redis.quit()));
    const registry = new Registry();
    const prefix = `own-name-${Date.now()}`;
    const upstreams = new UpstreamNotaries({
      upstreams: [{ serverName: UPSTREAM, url: 'http://127.0.0.1:9/', verifyKeys: { [upstreamKey.keyId]: upstreamKey.publicKeyBase64 } }],
      poster,
      store: new KeyStore(redis, { prefix }),
      limits: new UpstreamLimits(redis, prefix, { windowMs: 1000, asksPerWindow: 10, firstBackoffMs: 1000, maxBackoffMs: 1000 }),
      signer: { countersign: async (b: Buffer) => b },
      gate: new SignerGate(async () => undefined),
      policy: { notaryServerName: NOTARY_NAME, minKeyValidityMs: 0, timeoutMs: 1000 },
      logger: createLogger({ role: 'test', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
      metrics: createWorkerMetrics(registry),
    });
    expect(await upstreams.learn(NOTARY_NAME)).toBe(false);
    expect(poster.calls).toBe(0);
    expect(await upstreams.learn('elsewhere.example.org')).toBe(false); // asked: answered with nothing
    expect(poster.calls).toBe(1);
  });
});

describe('configuration', () => {
  function workerProblems(env: Record<string, string>): string[] {
    const reader = new VariableReader({ NOTARY_SERVER_NAME: NOTARY_NAME, NOTARY_SIGNER_TOKEN: 'a-token-of-sixteen-chars', ...env });
    readWorkerConfig(reader);
    try {
      reader.done();
      return [];
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
  }

  test('an upstream URL on an address the policy forbids stops the start, unless NOTARY_ALLOWED_ADDRESSES lists it', () => {
    const file = path.join(dir, 'private.json');
    fs.writeFileSync(file, JSON.stringify([{ server_name: UPSTREAM, url: 'http://10.1.2.3:8080', verify_keys: { [upstreamKey.keyId]: upstreamKey.publicKeyBase64 } }]));
    expect(workerProblems({ NOTARY_UPSTREAM_NOTARIES_FILE: file })).toEqual([
      `NOTARY_UPSTREAM_NOTARIES_FILE: the URL of ${UPSTREAM} is on 10.1.2.3, an address the notary refuses to connect to: list it in NOTARY_ALLOWED_ADDRESSES (upstreams are held to the same address policy as origins)`,
    ]);
    expect(workerProblems({ NOTARY_UPSTREAM_NOTARIES_FILE: file, NOTARY_ALLOWED_ADDRESSES: '10.1.2.3/32' })).toEqual([]);
  });

  test('the worker reads the file; a broken one is named in the start-up error', () => {
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '[{"server_name": "upstream.test"}]');
    expect(workerProblems({ NOTARY_UPSTREAM_NOTARIES_FILE: file })).toEqual([`NOTARY_UPSTREAM_NOTARIES_FILE ${file} entry 0: "url" must be an http:// or https:// URL such as https://notary.example.org`]);
  });
});
