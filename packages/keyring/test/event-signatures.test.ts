/**
 * Outcomes of signature checks: missing key, wrong signature, malformed signature, unsupported
 * algorithm, unsigned events, redacted copies, and how a server's signatures combine.
 */
import { encodeBase64, type JsonObject } from '@matrix-notary/protocol';
import { Keyring, redactEvent, roomVersionRules, StaticKeySource } from '../src';
import { addSignature, DAY_MS, hashAndSign, keyResponse, makeKey, messageEvent, type TestKey } from './helpers';

const NOW = 1_700_000_000_000;
const OTS = NOW - DAY_MS;
const SERVER = 'example.org';
const SENDER = '@alice:example.org';
const V10 = roomVersionRules('10');

let key: TestKey;
let otherKey: TestKey;
let keyring: Keyring;

beforeAll(async () => {
  key = await makeKey('ed25519:k1');
  otherKey = await makeKey('ed25519:k2');
  keyring = new Keyring({
    sources: [new StaticKeySource([keyResponse({ serverName: SERVER, current: [key, otherKey], validUntilTs: NOW + DAY_MS })])],
    now: () => NOW,
  });
});

describe('event signature checks', () => {
  it('a correctly signed event is valid and says which key and rule passed', async () => {
    const r = await keyring.verifyEvent(hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key), '10');
    expect(r.verdict).toBe('valid');
    expect(r.servers).toEqual([
      expect.objectContaining({ serverName: SERVER, requiredBecause: ['sender'], verdict: 'valid' }),
    ]);
    expect(r.servers[0]?.signatures[0]).toMatchObject({
      serverName: SERVER, keyId: 'ed25519:k1', outcome: 'passed', passed: true, rule: 'valid_until_ts',
      key: { kind: 'verify_keys', source: 'static keys', key: key.publicKeyBase64 },
    });
    expect(r.contentHash.status).toBe('match');
  });

  it('a missing key leaves the event undecided', async () => {
    const unknown = await makeKey('ed25519:nope');
    const r = await keyring.verifyEvent(hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, unknown), '10');
    expect(r.verdict).toBe('undecided');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'key_not_found', passed: false });
  });

  it('a wrong signature (signed by another key under the listed key ID) is invalid', async () => {
    const impostor = await makeKey('ed25519:k1');
    const r = await keyring.verifyEvent(hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, impostor), '10');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'bad_signature', passed: false });
  });

  it('changing a signed field (origin_server_ts) after signing makes the event invalid', async () => {
    const signed = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key);
    const r = await keyring.verifyEvent({ ...signed, origin_server_ts: OTS + 1 }, '10');
    expect(r.verdict).toBe('invalid');
  });

  it('a changed body keeps the signature valid but fails the content hash (treat as redacted)', async () => {
    const signed = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key);
    const r = await keyring.verifyEvent({ ...signed, content: { msgtype: 'm.text', body: 'forged' } }, '10');
    expect(r.verdict).toBe('valid');
    expect(r.contentHash.status).toBe('mismatch');
    expect(r.contentHash.reason).toMatch(/treat as redacted/);
  });

  it('a redacted event still verifies, and its content hash no longer matches', async () => {
    const signed = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key);
    const redacted = redactEvent(signed, V10.redaction);
    expect(redacted.content).toEqual({});
    const r = await keyring.verifyEvent(redacted, '10');
    expect(r.verdict).toBe('valid');
    expect(r.contentHash.status).toBe('mismatch');
  });

  it('an event without a signature by the sender server is invalid', async () => {
    const unsigned = { ...messageEvent(SENDER, OTS), signatures: { 'other.org': { 'ed25519:x': 'AAAA' } } };
    const r = await keyring.verifyEvent(unsigned, '10');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]).toMatchObject({ serverName: SERVER, verdict: 'invalid', signatures: [] });
    expect(r.unrequiredSigners).toEqual(['other.org']);
  });

  it('a malformed signature is invalid', async () => {
    const event = { ...messageEvent(SENDER, OTS), signatures: { [SERVER]: { 'ed25519:k1': 'not base64!' } } };
    const r = await keyring.verifyEvent(event, '10');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]?.signatures[0]?.outcome).toBe('malformed_signature');
  });

  it('signatures of unknown algorithms are ignored; with nothing else the server has not signed', async () => {
    const only = { ...messageEvent(SENDER, OTS), signatures: { [SERVER]: { 'curve9:x': encodeBase64(new Uint8Array(64)) } } };
    const r1 = await keyring.verifyEvent(only, '10');
    expect(r1.verdict).toBe('invalid');
    expect(r1.servers[0]?.signatures[0]?.outcome).toBe('unsupported_algorithm');
    const signed = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key);
    const both = { ...signed, signatures: { [SERVER]: { ...(signed.signatures as JsonObject)[SERVER] as JsonObject, 'curve9:x': 'AAAA' } } };
    expect((await keyring.verifyEvent(both, '10')).verdict).toBe('valid');
  });

  it('one bad signature fails the server even when another of its signatures passes', async () => {
    const good = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key);
    const impostor = await makeKey('ed25519:k2');
    const r = await keyring.verifyEvent(addSignature(good, V10, SERVER, impostor), '10');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]?.signatures.map((s) => s.outcome).sort()).toEqual(['bad_signature', 'passed']);
  });

  it('two good signatures of one server are both reported as passed', async () => {
    const r = await keyring.verifyEvent(addSignature(hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key), V10, SERVER, otherKey), '10');
    expect(r.verdict).toBe('valid');
    expect(r.servers[0]?.signatures.map((s) => s.outcome)).toEqual(['passed', 'passed']);
  });

  it('a malformed event is undecided and says what is wrong', async () => {
    const r = await keyring.verifyEvent({ type: 'm.room.message', sender: 'alice', content: {} }, '10');
    expect(r.verdict).toBe('undecided');
    expect(r.problems).toEqual(expect.arrayContaining([expect.stringMatching(/sender/), expect.stringMatching(/origin_server_ts/)]));
  });

  it('a batch is invalid if one event is, and undecided if one is and none is invalid', async () => {
    const good = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, key);
    const unknownKey = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, await makeKey('ed25519:zz'));
    const bad = hashAndSign(messageEvent(SENDER, OTS), '10', SERVER, await makeKey('ed25519:k1'));
    expect((await keyring.verifyEvents([good, unknownKey], '10')).verdict).toBe('undecided');
    expect((await keyring.verifyEvents([good, unknownKey, bad], '10')).verdict).toBe('invalid');
    expect((await keyring.verifyEvents([good, good], '10')).verdict).toBe('valid');
  });

  it('computes the v4+ event ID from the reference hash (URL-safe) and v3 in standard base64', async () => {
    const event = hashAndSign(messageEvent(SENDER, OTS), '4', SERVER, key);
    const v4 = await keyring.verifyEvent(event, '4');
    const v3 = await keyring.verifyEvent(event, '3');
    expect(v4.eventId).toMatch(/^\$[A-Za-z0-9_-]{43}$/);
    expect(v3.eventId).toMatch(/^\$[A-Za-z0-9+/]{43}$/);
    expect(v4.eventId?.slice(1).replace(/-/g, '+').replace(/_/g, '/')).toBe(v3.eventId?.slice(1));
  });
});
