/**
 * `matrix-notary verify-event` as a user runs it: the built CLI as a child process, keys through a
 * running notary (`matrix-notary all`, another child process) whose key is pinned, which fetched
 * them from a real HTTPS origin. Events are made here, signed with keys made here; one is signed by
 * an independent implementation, matrix-org's Python signedjson (Debian's python3-signedjson).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBase64, encodeBase64, keyPairFromSeed, type JsonObject } from '@matrix-notary/protocol';
import { readSigningKeyFile, signingKeyId } from '@matrix-notary/signer';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix, type OriginKey } from '@matrix-notary/testing';
import { hashAndSign, messageEvent, type TestKey } from '../../keyring/test/helpers';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, runCli, startCli, waitForUrl, type RunningProcess } from './processes';

jest.setTimeout(90_000);

const DAY_MS = 86_400_000;
const NOW = Date.now();
const NOTARY = 'notary.verify.test';
/** Debian's interpreter, where apt installs python3-signedjson (another python may be first on PATH). */
const DEBIAN_PYTHON = '/usr/bin/python3';

let dir: string;
let origin: FakeOrigin;
let pythonOrigin: FakeOrigin;
let notary: RunningProcess;
let notaryUrl: string;
let pin: string;
let prefix: string;
let current: OriginKey;
let retired: OriginKey;

function testKey(k: OriginKey): TestKey {
  return { keyId: k.keyId, publicKey: k.pair.publicKey, publicKeyBase64: k.publicKeyBase64, secretKey: k.pair.secretKey };
}

function eventFrom(server: string, ts: number, key: OriginKey): JsonObject {
  return hashAndSign(messageEvent(`@alice:${server}`, ts), '10', server, testKey(key));
}

async function verify(events: unknown, extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const file = path.join(dir, `events-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, JSON.stringify(events));
  return runCli(['verify-event', '--room-version', '10', '--notary', notaryUrl, '--notary-key', pin, ...extra, file], {});
}

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-verify-'));
  const ca = await createTestCa();
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.caPem);
  origin = await FakeOrigin.start({ ca });
  // The origin rotated two days ago: its old key is retired, the current one signs.
  retired = origin.current[0];
  current = origin.rotate('ed25519:a2', NOW - 2 * DAY_MS);
  pythonOrigin = await FakeOrigin.start({ ca });

  const keyFile = path.join(dir, 'notary.key');
  expect((await runCli(['generate-key', '--out', keyFile], {})).code).toBe(0);
  const { key } = await readSigningKeyFile(keyFile);
  pin = `${signingKeyId(key)}=${encodeBase64(keyPairFromSeed(key.seed).publicKey)}`;

  prefix = uniquePrefix('verify');
  const port = await freeLoopbackPort();
  notaryUrl = `http://127.0.0.1:${port}`;
  notary = startCli(
    ['all'],
    {
      REDIS_URL: testRedisUrl(),
      NOTARY_REDIS_PREFIX: prefix,
      NOTARY_SERVER_NAME: NOTARY,
      NOTARY_SIGNING_KEY_FILE: keyFile,
      NOTARY_PORT: String(port),
      NOTARY_BIND: '127.0.0.1',
      NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
      NOTARY_METRICS_BIND: '127.0.0.1',
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
      NOTARY_FEDERATION_CA_FILE: path.join(dir, 'ca.pem'),
      NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
      // A query waits for the fetches it causes as long as they take (they end in well under a
      // second; a loaded machine must not turn that into an empty answer).
      NOTARY_FETCH_WAIT_MS: '20000',
      NOTARY_LOG_LEVEL: 'warn',
    },
    dir,
  );
  await waitForUrl(`${notaryUrl}/_matrix/key/v2/server`, notary);
});

afterAll(async () => {
  await notary?.stop();
  await origin?.stop();
  await pythonOrigin?.stop();
  if (prefix) await deletePrefix(prefix);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a validly signed event: exit 0, the key coming from the pinned notary', async () => {
  const res = await verify(eventFrom(origin.serverName, NOW - DAY_MS, current));
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toContain(`keys from notary ${NOTARY} at ${notaryUrl} (pinned)`);
});

test('a signature that does not verify: exit 1', async () => {
  const event = eventFrom(origin.serverName, NOW - DAY_MS, current) as any;
  const sig = event.signatures[origin.serverName][current.keyId] as string;
  event.signatures[origin.serverName][current.keyId] = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  expect((await verify(event)).code).toBe(1);
});

test('a key used after it expired (room v5+ validity): exit 1', async () => {
  // Signed with the retired key a day after its expired_ts.
  const res = await verify(eventFrom(origin.serverName, NOW - DAY_MS, retired));
  expect(res.code).toBe(1);
});

test('a key nobody publishes: undecided, exit 2', async () => {
  const res = await verify(eventFrom(origin.serverName, NOW - DAY_MS, FakeOrigin.newKey('ed25519:unknown')));
  expect(res.code).toBe(2);
});

test('a batch with a valid and an invalid event exits 1 (invalid wins), and --json says why per event', async () => {
  const res = await verify([eventFrom(origin.serverName, NOW - DAY_MS, current), eventFrom(origin.serverName, NOW - DAY_MS, retired)], ['--json']);
  expect(res.code).toBe(1);
  const out = JSON.parse(res.stdout);
  expect(Object.keys(out).sort()).toEqual(['checkedAtMs', 'events', 'exitCode', 'keySourceFailures', 'keySources', 'roomVersion', 'strict', 'verdict']);
  expect(out).toMatchObject({
    exitCode: 1,
    roomVersion: '10',
    verdict: 'invalid',
    strict: false,
    keySources: [{ kind: 'notary', url: notaryUrl, serverName: NOTARY, trust: 'pinned' }],
  });
  expect(out.events.map((e: { verdict: string }) => e.verdict)).toEqual(['valid', 'invalid']);
});

test('events on standard input', () => {
  const event = JSON.stringify(eventFrom(origin.serverName, NOW - DAY_MS, current));
  const cli = path.resolve(__dirname, '..', 'bin', 'matrix-notary.js');
  // execFileSync throws unless the exit code is 0.
  const out = execFileSync(process.execPath, [cli, 'verify-event', '--room-version', '10', '--notary', notaryUrl, '--notary-key', pin, '-'], {
    input: event,
  }).toString();
  expect(out).toMatch(/valid/);
});

test('an event signed by Python signedjson verifies through the notary', async () => {
  // signedjson makes the key and signs; we only serve its public key from the origin.
  const script = `
import base64, hashlib, json, sys
from canonicaljson import encode_canonical_json
from signedjson.key import generate_signing_key, encode_signing_key_base64
from signedjson.sign import sign_json
server, ts = sys.argv[1], int(sys.argv[2])
key = generate_signing_key("py1")
# content {}: the redacted event is the event itself, so signing the event signs its redaction
event = {"type": "m.room.message", "room_id": "!room:" + server, "sender": "@bob:" + server,
         "content": {}, "origin_server_ts": ts, "depth": 5, "prev_events": [], "auth_events": []}
digest = hashlib.sha256(encode_canonical_json(event)).digest()
event["hashes"] = {"sha256": base64.b64encode(digest).decode().rstrip("=")}
signed = sign_json(event, server, key)
print(json.dumps({"seed": encode_signing_key_base64(key), "event": signed}))
`;
  const out = JSON.parse(execFileSync(DEBIAN_PYTHON, ['-c', script, pythonOrigin.serverName, String(NOW - DAY_MS)]).toString());
  const pair = keyPairFromSeed(decodeBase64(out.seed));
  pythonOrigin.current = [{ keyId: 'ed25519:py1', pair, publicKeyBase64: encodeBase64(pair.publicKey) }];
  // --strict: the content hash Python computed must match too.
  const res = await verify(out.event, ['--json', '--strict']);
  expect(JSON.parse(res.stdout).events[0]).toMatchObject({ verdict: 'valid', contentHash: { status: 'match' } });
  expect(res.code).toBe(0);
});
