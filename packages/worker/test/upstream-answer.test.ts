/**
 * checkUpstreamAnswer: an upstream notary's answer is held to what the keyring's NotaryKeySource
 * checks (the upstream's signature with a pinned key, the origin's self-signature) and to what the
 * worker checks in an origin's own response (the server asked, behaviour 5's policy, MSC4499's
 * payload rules). Pure; every case builds real signatures.
 */
import {
  BannedKeys,
  canonicalJsonBytes,
  encodeBase64,
  generateSeed,
  keyPairFromSeed,
  parseBannedKeyList,
  parseStrictJson,
  signDetached,
  signedBytes,
  signJson,
  type Ed25519KeyPair,
  type JsonObject,
} from '@matrix-notary/protocol';
import { checkUpstreamAnswer, upstreamIdentity } from '../src';

const NOW_MS = 1_700_000_000_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const ORIGIN = 'origin.example.org';
const UPSTREAM = 'upstream.example.net';

const originKey = keyPairFromSeed(generateSeed());
const upstreamKey = keyPairFromSeed(generateSeed());
const strangerKey = keyPairFromSeed(generateSeed());

const identity = upstreamIdentity({ serverName: UPSTREAM, url: 'https://upstream.example.net/', verifyKeys: { 'ed25519:up': encodeBase64(upstreamKey.publicKey) } });
const policy = { serverName: ORIGIN, nowMs: NOW_MS, minValidityMs: HOUR_MS };

function originResponse(overrides: JsonObject = {}, serverName = ORIGIN, key: Ed25519KeyPair = originKey): JsonObject {
  const body: JsonObject = {
    server_name: serverName,
    valid_until_ts: NOW_MS + DAY_MS,
    verify_keys: { 'ed25519:o1': { key: encodeBase64(originKey.publicKey) } },
    old_verify_keys: {},
    ...overrides,
  };
  return signJson(body, serverName, 'ed25519:o1', key.secretKey) as JsonObject;
}

function countersign(entry: JsonObject, key: Ed25519KeyPair = upstreamKey, keyId = 'ed25519:up', name = UPSTREAM): JsonObject {
  const sigs = entry.signatures as Record<string, Record<string, string>>;
  return { ...entry, signatures: { ...sigs, [name]: { [keyId]: encodeBase64(signDetached(signedBytes(entry), key.secretKey)) } } };
}

function answer(...entries: unknown[]): Buffer {
  return Buffer.from(JSON.stringify({ server_keys: entries }));
}

test('a good answer gives the origin response to store: canonical bytes, its keys, the upstream signature still on it', () => {
  const entry = countersign(originResponse());
  const check = checkUpstreamAnswer(answer(entry), identity, policy);
  if (check.outcome !== 'usable') throw new Error(JSON.stringify(check));
  expect(check.response.server_name).toBe(ORIGIN);
  expect(check.keyIds).toEqual(['ed25519:o1']);
  expect(check.keys).toEqual([{ keyId: 'ed25519:o1', body: encodeBase64(originKey.publicKey), kind: 'active' }]);
  expect(check.bytes.equals(canonicalJsonBytes(entry))).toBe(true);
});

test('entries about other servers are ignored: an answer without the origin is empty', () => {
  const other = countersign(originResponse({}, 'other.example.org'));
  expect(checkUpstreamAnswer(answer(other), identity, policy)).toEqual({ outcome: 'empty' });
  expect(checkUpstreamAnswer(answer(), identity, policy)).toEqual({ outcome: 'empty' });
});

test('of several good entries, the one valid longest is kept', () => {
  const short = countersign(originResponse({ valid_until_ts: NOW_MS + 2 * HOUR_MS }));
  const long = countersign(originResponse({ valid_until_ts: NOW_MS + 3 * DAY_MS }));
  const check = checkUpstreamAnswer(answer(short, long, short), identity, policy);
  expect(check.outcome === 'usable' && check.response.valid_until_ts).toBe(NOW_MS + 3 * DAY_MS);
});

test.each<[string, () => Buffer, string]>([
  ['no signature by the upstream', () => answer(originResponse()), 'bad_notary_signature'],
  ['a signature by a key nobody pinned for the upstream', () => answer(countersign(originResponse(), strangerKey, 'ed25519:other')), 'bad_notary_signature'],
  ['a pinned key ID whose signature does not verify', () => answer(countersign(originResponse(), strangerKey)), 'bad_notary_signature'],
  ['a signature under another notary name', () => answer(countersign(originResponse(), upstreamKey, 'ed25519:up', 'impostor.example.net')), 'bad_notary_signature'],
  [
    'keys the upstream changed after the origin signed (its own signature over them is fine)',
    () => {
      const tampered = originResponse();
      (tampered.verify_keys as JsonObject)['ed25519:o1'] = { key: encodeBase64(strangerKey.publicKey) };
      return answer(countersign(tampered));
    },
    'bad_signature',
  ],
  ['a response the origin did not sign at all', () => answer(countersign({ ...originResponse(), signatures: {} })), 'no_valid_signature'],
  ['valid for less than NOTARY_MIN_KEY_VALIDITY_S', () => answer(countersign(originResponse({ valid_until_ts: NOW_MS + HOUR_MS - 1 }))), 'expires_too_soon'],
  [
    'more than 50 verify_keys (MSC4499)',
    () => {
      const keys: JsonObject = {};
      for (let i = 0; i < 51; i++) keys[`ed25519:k${i}`] = { key: encodeBase64(keyPairFromSeed(new Uint8Array(32).fill(i + 1)).publicKey) };
      keys['ed25519:o1'] = { key: encodeBase64(originKey.publicKey) };
      return answer(countersign(originResponse({ verify_keys: keys })));
    },
    'malformed',
  ],
  [
    'one key ID with two bodies across verify_keys and old_verify_keys (MSC4499)',
    () => answer(countersign(originResponse({ old_verify_keys: { 'ed25519:o1': { key: encodeBase64(strangerKey.publicKey), expired_ts: NOW_MS - DAY_MS } } }))),
    'malformed',
  ],
  [
    'a repeated member name anywhere in the answer (MSC4499)',
    () => {
      const text = canonicalJsonBytes({ server_keys: [countersign(originResponse())] }).toString('utf8');
      return Buffer.from(text.replace('"old_verify_keys":{}', '"old_verify_keys":{},"old_verify_keys":{}'));
    },
    'malformed',
  ],
  ['a float, which canonical JSON cannot hold', () => Buffer.from(`{"server_keys":[{"server_name":"${ORIGIN}","valid_until_ts":1.5}]}`), 'not_canonical_json'],
  ['not JSON', () => Buffer.from('<html>'), 'not_json'],
  ['bytes that are not UTF-8', () => Buffer.from([0x7b, 0xff, 0x7d]), 'not_json'],
  ['no server_keys list', () => Buffer.from('{"server_keys":{}}'), 'bad_answer'],
])('refuses %s', (_label, body, reason) => {
  const check = checkUpstreamAnswer(body(), identity, policy);
  expect(check).toMatchObject({ outcome: 'refused', reason });
});

test('refuses a key listed in NOTARY_BANNED_KEYS_FILE', () => {
  const banned = new BannedKeys(parseBannedKeyList([{ key: encodeBase64(originKey.publicKey), note: 'leaked' }]));
  const check = checkUpstreamAnswer(answer(countersign(originResponse())), identity, { ...policy, bannedKeys: banned });
  expect(check).toMatchObject({ outcome: 'refused', reason: 'banned_key' });
});

test('with NOTARY_MIN_KEY_VALIDITY_S=0 an expired response is accepted, as from the origin itself', () => {
  const expired = countersign(originResponse({ valid_until_ts: NOW_MS - DAY_MS }));
  expect(checkUpstreamAnswer(answer(expired), identity, { ...policy, minValidityMs: 0 }).outcome).toBe('usable');
});

test('a good entry wins over bad ones for the same origin; only bad ones give the first refusal', () => {
  const good = countersign(originResponse());
  const bad = countersign(originResponse(), strangerKey);
  expect(checkUpstreamAnswer(answer(bad, good), identity, policy).outcome).toBe('usable');
  const soon = countersign(originResponse({ valid_until_ts: NOW_MS }));
  expect(checkUpstreamAnswer(answer(bad, soon), identity, policy)).toMatchObject({ reason: 'bad_notary_signature' });
  // And the answer keeps what it said: checking does not change it.
  const text = answer(good).toString();
  checkUpstreamAnswer(Buffer.from(text), identity, policy);
  expect(parseStrictJson(text)).toEqual({ server_keys: [good] });
});

test('two responses of the origin that give one key ID two different keys: refused as a collision (no first binding can be told)', () => {
  const before = countersign(originResponse({ valid_until_ts: NOW_MS + 2 * DAY_MS }));
  const reused = keyPairFromSeed(generateSeed());
  const after = countersign(originResponse({ verify_keys: { 'ed25519:o1': { key: encodeBase64(reused.publicKey) } } }, ORIGIN, reused));
  expect(checkUpstreamAnswer(answer(before, after), identity, policy)).toMatchObject({ outcome: 'refused', reason: 'collision' });
  // The same key in both is fine: the one valid longest is kept.
  expect(checkUpstreamAnswer(answer(before, countersign(originResponse())), identity, policy)).toMatchObject({ outcome: 'usable' });
});
