/**
 * End to end: events verified through a running notary of this project (`startAll`: api, worker
 * and in-process signer on the test Redis), which fetches two real HTTPS origins on 127.0.0.1.
 * The keyring pins the notary's key from the key file the test wrote, and checks both the
 * notary's countersignature and the origins' own signatures on what comes back.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { silentLogger } from '@matrix-notary/common';
import { canonicalJsonBytes, encodeBase64, generateSeed, type JsonObject } from '@matrix-notary/protocol';
import { createTestCa, deletePrefix, startHttpsServer, type TestHttpsServer } from '@matrix-notary/testing';
import { Keyring, NotaryKeySource } from '@matrix-notary/keyring';
import { startAll, type RoleHandle } from '../src';
import { runVerifyEvent } from '../src/verify-event';
import { DAY_MS, hashAndSign, keyResponse, makeKey, messageEvent, type TestKey } from '../../keyring/test/helpers';

const NOTARY_NAME = 'notary.e2e';
const NOW = Date.now();

let dir: string;
let prefix: string;
let notary: RoleHandle;
let notaryKey: TestKey;
let origins: TestHttpsServer[] = [];
let aName: string;
let bName: string;
let aKey: TestKey;
let bCurrent: TestKey;
let bOld: TestKey;
const B_OLD_EXPIRED_TS = NOW - 10 * DAY_MS;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'keyring-e2e-'));
  const ca = await createTestCa();
  const caFile = path.join(dir, 'ca.pem');
  fs.writeFileSync(caFile, ca.caPem);
  const cert = await ca.issue({ ips: ['127.0.0.1'] });

  // Two origins: a.* with one current key; b.* with a current key and an old one it retired.
  aKey = await makeKey('ed25519:a1');
  bCurrent = await makeKey('ed25519:b2');
  bOld = await makeKey('ed25519:b1');
  const responses = new Map<number, JsonObject>();
  for (let i = 0; i < 2; i++) {
    const server = await startHttpsServer({
      host: '127.0.0.1',
      cert,
      handler: (req, res) => {
        const body = responses.get(server.port);
        if (req.url !== '/_matrix/key/v2/server' || body === undefined) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJsonBytes(body));
      },
    });
    origins.push(server);
  }
  aName = `127.0.0.1:${origins[0]?.port}`;
  bName = `127.0.0.1:${origins[1]?.port}`;
  responses.set(origins[0]?.port as number, keyResponse({ serverName: aName, current: [aKey], validUntilTs: NOW + DAY_MS }));
  responses.set(
    origins[1]?.port as number,
    keyResponse({ serverName: bName, current: [bCurrent], validUntilTs: NOW + DAY_MS, old: [{ key: bOld, expiredTs: B_OLD_EXPIRED_TS }] }),
  );

  // The notary's key, written in Synapse's format so the test knows the public key to pin.
  const seed = generateSeed();
  notaryKey = await makeKey('ed25519:e2e', seed);
  const keyFile = path.join(dir, 'signing.key');
  fs.writeFileSync(keyFile, `ed25519 e2e ${encodeBase64(seed)}\n`);

  prefix = `keyring-e2e-${randomUUID().slice(0, 8)}`;
  notary = await startAll(
    {
      REDIS_URL: process.env.NOTARY_TEST_REDIS_URL,
      NOTARY_REDIS_PREFIX: prefix,
      NOTARY_SERVER_NAME: NOTARY_NAME,
      NOTARY_SIGNING_KEY_FILE: keyFile,
      NOTARY_PORT: '0',
      NOTARY_BIND: '127.0.0.1',
      NOTARY_METRICS_PORT: '0',
      NOTARY_METRICS_BIND: '127.0.0.1',
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
      NOTARY_FEDERATION_CA_FILE: caFile,
      NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
      NOTARY_FETCH_WAIT_MS: '5000',
      NOTARY_ORIGIN_CONNECT_TIMEOUT_MS: '2000',
      NOTARY_ORIGIN_TIMEOUT_MS: '4000',
    },
    { logger: silentLogger() },
  );
});

afterAll(async () => {
  await notary?.stop();
  await Promise.all(origins.map((o) => o.close()));
  origins = [];
  if (prefix) await deletePrefix(prefix);
  fs.rmSync(dir, { recursive: true, force: true });
});

const notaryUrl = (): string => `http://127.0.0.1:${notary.port}`;
const pinned = (): NotaryKeySource =>
  new NotaryKeySource({ url: notaryUrl(), pinnedKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 } });

describe('end to end through a running notary', () => {
  it('verifies a batch of events of two origins, with current and old keys, under room v10 rules', async () => {
    const events = [
      hashAndSign(messageEvent(`@x:${aName}`, NOW - DAY_MS), '10', aName, aKey),
      hashAndSign(messageEvent(`@y:${bName}`, NOW - DAY_MS), '10', bName, bCurrent),
      // Made before b retired its old key: valid under the expired_ts rule.
      hashAndSign(messageEvent(`@y:${bName}`, B_OLD_EXPIRED_TS - DAY_MS), '10', bName, bOld),
    ];
    const source = pinned();
    const report = await new Keyring({ sources: [source] }).verifyEvents(events, '10');
    expect(report.keySourceFailures).toEqual([]);
    expect(report.events.map((e) => e.verdict)).toEqual(['valid', 'valid', 'valid']);
    expect(report.events[2]?.servers[0]?.signatures[0]).toMatchObject({
      outcome: 'passed',
      rule: 'expired_ts',
      key: { kind: 'old_verify_keys', expiredTs: B_OLD_EXPIRED_TS, source: `notary ${NOTARY_NAME}` },
    });
    expect(await source.identify()).toMatchObject({ serverName: NOTARY_NAME, trust: 'pinned' });
  });

  it('fails an event signed with the old key after it expired, and one with a forged signature', async () => {
    const late = hashAndSign(messageEvent(`@y:${bName}`, B_OLD_EXPIRED_TS + 1), '10', bName, bOld);
    const forged = hashAndSign(messageEvent(`@x:${aName}`, NOW - DAY_MS), '10', aName, await makeKey('ed25519:a1'));
    const report = await new Keyring({ sources: [pinned()] }).verifyEvents([late, forged], '10');
    expect(report.events.map((e) => e.servers[0]?.signatures[0]?.outcome)).toEqual(['key_outside_validity', 'bad_signature']);
    expect(report.verdict).toBe('invalid');
  });

  it('refuses the running notary when the pin is another key', async () => {
    const wrong = await makeKey('ed25519:e2e');
    const source = new NotaryKeySource({ url: notaryUrl(), pinnedKeys: { [wrong.keyId]: wrong.publicKeyBase64 } });
    const report = await new Keyring({ sources: [source] }).verifyEvents([hashAndSign(messageEvent(`@x:${aName}`, NOW - DAY_MS), '10', aName, aKey)], '10');
    expect(report.verdict).toBe('undecided');
    expect(report.keySourceFailures[0]?.reason).toBe('notary_untrusted');
  });

  it('verify-event exits 0 through the running notary and names it from its own key response', async () => {
    const file = path.join(dir, 'events.json');
    fs.writeFileSync(file, JSON.stringify([hashAndSign(messageEvent(`@x:${aName}`, NOW - DAY_MS), '11', aName, aKey)]));
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await runVerifyEvent(
      ['--room-version', '11', '--json', '--notary', notaryUrl(), '--notary-key', `${notaryKey.keyId}=${notaryKey.publicKeyBase64}`, file],
      { stdout, stderr: new PassThrough(), stdin: Readable.from([]), env: {} },
    );
    const out = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    expect(code).toBe(0);
    expect(out.keySources).toEqual([{ kind: 'notary', url: notaryUrl(), serverName: NOTARY_NAME, trust: 'pinned' }]);
    expect(out.events[0].verdict).toBe('valid');
  });
});
