/**
 * A key rotation as operators run it: NOTARY_EXTRA_SIGNING_KEY_FILES given to a real
 * `matrix-notary signer` (split roles) and to `matrix-notary all`. The notary's own
 * `/_matrix/key/v2/server` lists both keys and is signed by both; countersigned origin responses
 * verify with either key; a keyring pinned to the new key alone trusts the notary. Only the signer
 * reads the files: api and worker processes given a path that does not exist start anyway. A key
 * file of several lines (Synapse's format allows it) signs with its first and warns about the rest.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotaryKeySource } from '@matrix-notary/keyring';
import { canonicalJsonBytes, decodeBase64, encodeBase64, verifyJsonSignature } from '@matrix-notary/protocol';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { OWN_KEYS_PATH } from '@matrix-notary/signer-client';
import { assertBuilt, generateKeyFile, logLines, runCli, startCli, stopWithin, waitForUrl, type RunningProcess } from './processes';
import { startSignerProcess } from './signer-process';

jest.setTimeout(90_000);

const NOTARY = 'notary.rotation.test';
const TOKEN = 'rotation-test-token-0123456789';

let dir: string;
let caFile: string;
let origin: FakeOrigin;
const prefixes: string[] = [];
const procs: RunningProcess[] = [];

interface KeyOnDisk {
  file: string;
  keyId: string;
  publicKey: Uint8Array;
}

function generate(name: string): Promise<KeyOnDisk> {
  return generateKeyFile(path.join(dir, name));
}

let current: KeyOnDisk;
let next: KeyOnDisk;

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-rotation-'));
  const ca = await createTestCa();
  caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.caPem);
  origin = await FakeOrigin.start({ ca });
  current = await generate('current.key');
  next = await generate('next.key');
  // generate-key picks random versions: two of them could clash (1 in 14 million).
  expect(next.keyId).not.toBe(current.keyId);
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await origin?.stop();
  for (const p of prefixes) await deletePrefix(p);
  fs.rmSync(dir, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string>): RunningProcess {
  const p = startCli(args, env);
  procs.push(p);
  return p;
}

function originEnv(prefix: string): Record<string, string> {
  return {
    NOTARY_SERVER_NAME: NOTARY,
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_LOG_LEVEL: 'warn',
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    NOTARY_FEDERATION_CA_FILE: caFile,
    NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
    // A query waits for the fetches it causes as long as they take (they end in well under a
    // second; a loaded machine must not turn that into an empty answer).
    NOTARY_FETCH_WAIT_MS: '20000',
  };
}

/** Checks a notary answering at `url` signs with both keys, and a keyring pinned to the new key alone trusts it. */
async function expectBothKeys(url: string): Promise<void> {
  const res = await fetch(`${url}/_matrix/key/v2/server`);
  const raw = Buffer.from(await res.arrayBuffer());
  const own = JSON.parse(raw.toString('utf8'));
  expect(canonicalJsonBytes(own).equals(raw)).toBe(true);
  expect(own.verify_keys).toEqual({
    [current.keyId]: { key: encodeBase64(current.publicKey) },
    [next.keyId]: { key: encodeBase64(next.publicKey) },
  });
  expect(own.old_verify_keys).toEqual({});
  for (const k of [current, next]) expect(verifyJsonSignature(own, NOTARY, k.keyId, decodeBase64(own.verify_keys[k.keyId].key))).toBe(true);

  const answer = await fetch(`${url}/_matrix/key/v2/query`, {
    method: 'POST',
    body: JSON.stringify({ server_keys: { [origin.serverName]: { 'ed25519:a1': {} } } }),
  });
  const { server_keys: entries } = (await answer.json()) as { server_keys: Array<Record<string, unknown>> };
  expect(entries).toHaveLength(1);
  const [entry] = entries;
  expect(Object.keys((entry.signatures as Record<string, object>)[NOTARY]).sort()).toEqual([current.keyId, next.keyId].sort());
  expect(verifyJsonSignature(entry, NOTARY, current.keyId, current.publicKey)).toBe(true);
  expect(verifyJsonSignature(entry, NOTARY, next.keyId, next.publicKey)).toBe(true);
  expect(verifyJsonSignature(entry, origin.serverName, 'ed25519:a1', origin.current[0].pair.publicKey)).toBe(true);

  // A homeserver (or the keyring) that pinned only the new key.
  const source = new NotaryKeySource({ url, pinnedKeys: { [next.keyId]: encodeBase64(next.publicKey) } });
  const identity = await source.identify();
  expect(identity).toMatchObject({ serverName: NOTARY, trust: 'pinned', verifiedByKeyId: next.keyId });
  const got = await source.fetchKeys({ keys: new Map([[origin.serverName, new Set(['ed25519:a1'])]]), minimumValidUntilTs: 0 });
  expect(got.failures).toEqual([]);
  expect(got.records.map((r) => [r.serverName, r.keyId])).toEqual([[origin.serverName, 'ed25519:a1']]);
}

test('split roles: the signer signs with both keys; api and worker ignore the variable', async () => {
  const prefix = uniquePrefix('rotation-split');
  prefixes.push(prefix);
  const signerPort = await freeLoopbackPort();
  const signer = start(['signer'], {
    NOTARY_SERVER_NAME: NOTARY,
    NOTARY_SIGNER_TOKEN: TOKEN,
    NOTARY_SIGNING_KEY_FILE: current.file,
    NOTARY_EXTRA_SIGNING_KEY_FILES: next.file,
    NOTARY_SIGNER_PORT: String(signerPort),
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_LOG_LEVEL: 'info',
  });
  await waitForUrl(`http://127.0.0.1:${signerPort}/healthz`, signer);
  const loaded = signer
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => /signing keys loaded/.test(l.msg));
  expect(loaded).toMatchObject({ keyId: current.keyId, extraKeys: [{ keyId: next.keyId, publicKey: encodeBase64(next.publicKey) }] });

  // The same environment for every role, as the chart gives it: the api and worker never open the file.
  const roleEnv = {
    ...originEnv(prefix),
    NOTARY_SIGNER_TOKEN: TOKEN,
    NOTARY_SIGNER_URL: `http://127.0.0.1:${signerPort}`,
    NOTARY_EXTRA_SIGNING_KEY_FILES: path.join(dir, 'only-the-signer-has-this.key'),
  };
  const workerMetrics = await freeLoopbackPort();
  const worker = start(['worker'], { ...roleEnv, NOTARY_METRICS_PORT: String(workerMetrics) });
  await waitForUrl(`http://127.0.0.1:${workerMetrics}/healthz`, worker);
  const apiPort = await freeLoopbackPort();
  const api = start(['api'], { ...roleEnv, NOTARY_PORT: String(apiPort), NOTARY_METRICS_PORT: String(await freeLoopbackPort()) });
  await waitForUrl(`http://127.0.0.1:${apiPort}/_notary/health/ready`, api);

  await expectBothKeys(`http://127.0.0.1:${apiPort}`);
});

test('all: the in-process signer signs with both keys', async () => {
  const prefix = uniquePrefix('rotation-all');
  prefixes.push(prefix);
  const port = await freeLoopbackPort();
  const all = start(['all'], {
    ...originEnv(prefix),
    NOTARY_SIGNING_KEY_FILE: current.file,
    NOTARY_EXTRA_SIGNING_KEY_FILES: ` ${next.file} ,`,
    NOTARY_PORT: String(port),
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
  });
  await waitForUrl(`http://127.0.0.1:${port}/_notary/health/ready`, all);
  await expectBothKeys(`http://127.0.0.1:${port}`);
});

test.each([
  ['a missing file', () => [path.join(dir, 'missing.key')], /^matrix-notary signer: NOTARY_EXTRA_SIGNING_KEY_FILES: no signing key file at .*missing\.key/],
  ['the current key again', () => [current.file], /^matrix-notary signer: NOTARY_EXTRA_SIGNING_KEY_FILES: the key in .*current\.key has the key ID ed25519:\w+, already used by the current key/],
  ['one file twice', () => [next.file, next.file], /^matrix-notary signer: NOTARY_EXTRA_SIGNING_KEY_FILES: the key in .*next\.key has the key ID ed25519:\w+, already used by the extra key in/],
])('the signer refuses to start with %s: exit 1, one line naming the variable', async (_label, files, message) => {
  const res = await runCli(['signer'], {
    NOTARY_SERVER_NAME: NOTARY,
    NOTARY_SIGNER_TOKEN: TOKEN,
    NOTARY_SIGNING_KEY_FILE: current.file,
    NOTARY_EXTRA_SIGNING_KEY_FILES: files().join(','),
    NOTARY_SIGNER_PORT: String(await freeLoopbackPort()),
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
  });
  expect(res.code).toBe(1);
  const lines = res.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(message);
});

test('a signing key file of two lines: the signer signs with the first and warns that the second is ignored', async () => {
  // Synapse's format allows several lines; only NOTARY_EXTRA_SIGNING_KEY_FILES makes a second key sign.
  const own = fs.mkdtempSync(path.join(dir, 'two-lines-'));
  fs.writeFileSync(path.join(own, 'signing.key'), fs.readFileSync(current.file, 'utf8') + fs.readFileSync(next.file, 'utf8'), { mode: 0o600 });
  const signer = await startSignerProcess(own, NOTARY, TOKEN);
  procs.push(signer.process);
  const answer = await fetch(`${signer.url}${OWN_KEYS_PATH}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(Object.keys(((await answer.json()) as { verify_keys: object }).verify_keys)).toEqual([current.keyId]);
  expect((await stopWithin(signer.process)).code).toBe(0);
  const warning = logLines(signer.process).find((l) => l.level === 'warn' && /more than one key/.test(String(l.msg)));
  expect(warning).toMatchObject({ file: signer.keyFile, ignoredKeyIds: [next.keyId] });
  // The warning names the ignored key; it never quotes the line (the seed).
  const nextSeed = fs.readFileSync(next.file, 'utf8').trim().split(/\s+/)[2];
  expect(signer.process.output()).not.toContain(nextSeed);
});
