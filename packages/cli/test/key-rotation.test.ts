/**
 * The README's key rotation, run as operators run it: real `matrix-notary signer`, `worker` and
 * `api` processes on the test Redis, restarted between the steps, and two homeservers' views of
 * the notary (the keyring's NotaryKeySource, as Synapse's `trusted_key_servers`): one pinning the
 * old key, one the new. Every answer — the notary's own keys, a fresh origin response, responses
 * stored before the new key existed, an older response still answering for a retired key ID —
 * verifies for both pins once the new key signs beside the old one and the workers' re-sign sweep
 * has run; it keeps verifying for both while the old key is the extra one; after the old key is
 * retired, answers carry the new key's signature alone and the old key is in old_verify_keys.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotaryKeySource } from '@matrix-notary/keyring';
import { encodeBase64, verifyJsonSignature, type JsonObject } from '@matrix-notary/protocol';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, generateKeyFile, logLines, startCli, stopWithin, waitForUrl, type RunningProcess } from './processes';

jest.setTimeout(120_000);

const NOTARY = 'notary.key-rotation.test';
const TOKEN = 'key-rotation-test-token-0123456789';

interface KeyOnDisk {
  file: string;
  keyId: string;
  publicKey: Uint8Array;
}

let dir: string;
let prefix: string;
let origins: FakeOrigin[] = [];
const procs: RunningProcess[] = [];
let ports: { signer: number; signerMetrics: number; api: number; apiMetrics: number; worker: number };
let oldKey: KeyOnDisk;
let newKey: KeyOnDisk;
let caFile: string;

function generate(name: string): Promise<KeyOnDisk> {
  return generateKeyFile(path.join(dir, name));
}

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-key-rotation-'));
  const ca = await createTestCa();
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.caPem);
  origins = [await FakeOrigin.start({ ca }), await FakeOrigin.start({ ca }), await FakeOrigin.start({ ca })];
  prefix = uniquePrefix('key-rotation');
  oldKey = await generate('old.key');
  newKey = await generate('new.key');
  expect(newKey.keyId).not.toBe(oldKey.keyId); // random versions: a clash is 1 in 14 million
  ports = {
    signer: await freeLoopbackPort(),
    signerMetrics: await freeLoopbackPort(),
    api: await freeLoopbackPort(),
    apiMetrics: await freeLoopbackPort(),
    worker: await freeLoopbackPort(),
  };
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  for (const o of origins) await o.stop();
  await deletePrefix(prefix);
  fs.rmSync(dir, { recursive: true, force: true });
});

const common = () => ({
  NOTARY_SERVER_NAME: NOTARY,
  NOTARY_SIGNER_TOKEN: TOKEN,
  REDIS_URL: testRedisUrl(),
  NOTARY_REDIS_PREFIX: prefix,
  NOTARY_LOG_LEVEL: 'info',
  NOTARY_METRICS_BIND: '127.0.0.1',
});

/** The three roles, as a rolling restart leaves them: signer first, then worker and api. */
const running: Partial<Record<'signer' | 'worker' | 'api', RunningProcess>> = {};

async function restart(role: 'signer' | 'worker' | 'api', env: Record<string, string>): Promise<RunningProcess> {
  const previous = running[role];
  if (previous !== undefined) expect((await stopWithin(previous)).code).toBe(0);
  const roleEnv: Record<string, Record<string, string>> = {
    signer: { NOTARY_SIGNER_PORT: String(ports.signer), NOTARY_METRICS_PORT: String(ports.signerMetrics) },
    worker: { NOTARY_METRICS_PORT: String(ports.worker) },
    api: { NOTARY_PORT: String(ports.api), NOTARY_METRICS_PORT: String(ports.apiMetrics), NOTARY_BIND: '127.0.0.1' },
  };
  const shared: Record<string, string> =
    role === 'signer'
      ? {}
      : {
          NOTARY_SIGNER_URL: `http://127.0.0.1:${ports.signer}`,
          NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
          NOTARY_FEDERATION_CA_FILE: caFile,
          NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
          // A query waits for the fetches it causes as long as they take (they end in well under
          // a second; a loaded machine must not turn that into an empty answer).
          NOTARY_FETCH_WAIT_MS: '20000',
        };
  const p = startCli([role], { ...common(), ...shared, ...roleEnv[role], ...env });
  procs.push(p);
  running[role] = p;
  const health = {
    signer: `http://127.0.0.1:${ports.signer}/healthz`,
    worker: `http://127.0.0.1:${ports.worker}/healthz`,
    api: `http://127.0.0.1:${ports.api}/_notary/health/ready`,
  }[role];
  await waitForUrl(health, p);
  return p;
}

/** Restarts the signer with these key variables, then the worker and the api. Resolves with the worker. */
async function rollOut(signerEnv: Record<string, string>): Promise<RunningProcess> {
  await restart('signer', signerEnv);
  const [worker] = await Promise.all([restart('worker', {}), restart('api', {})]);
  return worker;
}

/** Waits (at most 20 s) for the worker's log line saying the re-sign sweep finished, and returns it. */
async function sweepFinished(worker: RunningProcess): Promise<Record<string, unknown>> {
  for (let i = 0; i < 200; i++) {
    const line = logLines(worker).find((l) => /every stored response now carries a signature by each signing key/.test(String(l.msg)));
    if (line !== undefined) return line;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the worker did not finish re-signing within 20 s:\n${worker.output()}`);
}

const url = () => `http://127.0.0.1:${ports.api}`;

/** What the test asks the notary: every origin, and for the second both its retired and current key IDs. */
function asked(): Map<string, Set<string>> {
  const [first, rotated, third] = origins;
  return new Map([
    [first.serverName, new Set(['ed25519:a1'])],
    [rotated.serverName, new Set(['ed25519:a1', 'ed25519:a2'])],
    [third.serverName, new Set(['ed25519:a1'])],
  ]);
}

async function rawEntries(): Promise<JsonObject[]> {
  const serverKeys = Object.fromEntries([...asked()].map(([s, ids]) => [s, Object.fromEntries([...ids].map((k) => [k, {}]))]));
  const res = await fetch(`${url()}/_matrix/key/v2/query`, { method: 'POST', body: JSON.stringify({ server_keys: serverKeys }) });
  return ((await res.json()) as { server_keys: JsonObject[] }).server_keys;
}

/** A homeserver pinning `key` alone asks for every key: every record comes back, none refused. */
async function verifiesFor(key: KeyOnDisk): Promise<void> {
  const homeserver = new NotaryKeySource({ url: url(), pinnedKeys: { [key.keyId]: encodeBase64(key.publicKey) } });
  expect(await homeserver.identify()).toMatchObject({ serverName: NOTARY, trust: 'pinned', verifiedByKeyId: key.keyId });
  const got = await homeserver.fetchKeys({ keys: asked(), minimumValidUntilTs: 0 });
  expect(got.failures).toEqual([]);
  expect(got.records.map((r) => `${r.serverName} ${r.keyId}`).sort()).toEqual(
    [...asked()].flatMap(([s, ids]) => [...ids].map((k) => `${s} ${k}`)).sort(),
  );
}

/** The notary's signatures on every entry served: exactly `keys`, each verifying. */
async function signedByExactly(keys: KeyOnDisk[]): Promise<void> {
  const entries = await rawEntries();
  expect(entries).toHaveLength(4); // the rotated origin's older response answers for its retired key ID
  for (const entry of entries) {
    expect(Object.keys((entry.signatures as Record<string, object>)[NOTARY]).sort()).toEqual(keys.map((k) => k.keyId).sort());
    for (const k of keys) expect(verifyJsonSignature(entry, NOTARY, k.keyId, k.publicKey)).toBe(true);
  }
}

/** Has the notary fetch `origin` again (a query for a validity only its next response has) and store it. */
async function refetch(origin: FakeOrigin): Promise<void> {
  origin.validUntilTs += 60_000;
  const fetches = origin.fetches;
  const res = await fetch(`${url()}/_matrix/key/v2/query`, {
    method: 'POST',
    body: JSON.stringify({ server_keys: { [origin.serverName]: { 'ed25519:a1': { minimum_valid_until_ts: origin.validUntilTs - 1000 } } } }),
  });
  const { server_keys: entries } = (await res.json()) as { server_keys: JsonObject[] };
  expect([origin.fetches, entries.map((e) => e.valid_until_ts)]).toEqual([fetches + 1, [origin.validUntilTs]]);
}

async function resignedCount(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${ports.worker}/metrics`)).text();
  const m = /^matrix_notary_resigned_responses_total\{outcome="resigned",role="worker"\} (\d+)$/m.exec(text);
  return m === null ? Number.NaN : Number(m[1]);
}

test('a rotation with one homeserver pinning the old key and one the new: both verify every answer throughout', async () => {
  const [first, rotated, third] = origins;

  // Before: the old key alone. Responses are stored, one of them an older response of an origin
  // that rotated its own key since (it answers for the key ID the origin no longer lists).
  await rollOut({ NOTARY_SIGNING_KEY_FILE: oldKey.file });
  const before = (await rawEntries()).map((e) => e.server_name).sort();
  const expected = [first.serverName, rotated.serverName, third.serverName].sort();
  const logs = before.join() === expected.join() ? '' : `${running.worker!.output()}\n${running.api!.output()}`;
  expect({ before, logs }).toEqual({ before: expected, logs: '' });
  rotated.current = [FakeOrigin.newKey('ed25519:a2')];
  rotated.validUntilTs += 60_000;
  await signedByExactly([oldKey]); // asking for a2 fetched the rotated origin again
  await verifiesFor(oldKey);

  // Step 1: the new key signs beside the old one. After the restart the worker re-signs what is stored.
  const worker = await rollOut({ NOTARY_SIGNING_KEY_FILE: oldKey.file, NOTARY_EXTRA_SIGNING_KEY_FILES: newKey.file });
  const finished = await sweepFinished(worker);
  expect(finished).toMatchObject({ records: 3, responses: 4, resigned: 4, refused: 0 });
  expect(await resignedCount()).toBe(4);
  await signedByExactly([oldKey, newKey]);
  await verifiesFor(oldKey);
  await verifiesFor(newKey);

  // Step 3: the new key current, the old one extra. The same key set: nothing to re-sign.
  const swapped = await rollOut({ NOTARY_SIGNING_KEY_FILE: newKey.file, NOTARY_EXTRA_SIGNING_KEY_FILES: oldKey.file });
  await refetch(third);
  await signedByExactly([oldKey, newKey]); // the third origin's fresh response, countersigned by both
  await verifiesFor(oldKey);
  await verifiesFor(newKey);
  expect(await resignedCount()).toBe(0);
  expect(logLines(swapped).some((l) => /re-signing them in the background/.test(String(l.msg)))).toBe(false);

  // Step 4: the old key retired. Answers carry the new key's signature alone; the old key is
  // published in old_verify_keys, so what it signed before still verifies.
  const oldKeys = path.join(dir, 'old-keys.json');
  fs.writeFileSync(oldKeys, JSON.stringify({ [oldKey.keyId]: { key: encodeBase64(oldKey.publicKey), expired_ts: Date.now() } }));
  const retired = await rollOut({ NOTARY_SIGNING_KEY_FILE: newKey.file, NOTARY_OLD_SIGNING_KEYS_FILE: oldKeys });
  expect(await sweepFinished(retired)).toMatchObject({ resigned: 4 });
  await signedByExactly([newKey]);
  await verifiesFor(newKey);
  const own = (await (await fetch(`${url()}/_matrix/key/v2/server`)).json()) as JsonObject;
  expect(Object.keys(own.verify_keys as object)).toEqual([newKey.keyId]);
  expect(own.old_verify_keys).toEqual({ [oldKey.keyId]: { key: encodeBase64(oldKey.publicKey), expired_ts: expect.any(Number) } });
});
