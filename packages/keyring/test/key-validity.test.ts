/**
 * The room v5+ validity rule at its boundaries, through the Keyring with keys made here.
 */
import type { JsonObject } from '@matrix-notary/protocol';
import { Keyring, StaticKeySource } from '../src';
import { DAY_MS, hashAndSign, keyResponse, makeKey, messageEvent, type TestKey } from './helpers';

const NOW = 1_700_000_000_000;
const SERVER = 'example.org';
const SENDER = '@alice:example.org';

let key: TestKey;

beforeAll(async () => {
  key = await makeKey('ed25519:k1');
});

function keyringWith(responses: JsonObject[]): Keyring {
  return new Keyring({ sources: [new StaticKeySource(responses)], now: () => NOW });
}

function currentKeyUntil(validUntilTs: number): Keyring {
  return keyringWith([keyResponse({ serverName: SERVER, current: [key], validUntilTs })]);
}

/** A response where `key` is an old key expired at `expiredTs`, signed by a fresh current key. */
async function oldKeyExpiredAt(expiredTs: number): Promise<Keyring> {
  const current = await makeKey('ed25519:k2');
  return keyringWith([keyResponse({ serverName: SERVER, current: [current], validUntilTs: NOW + DAY_MS, old: [{ key, expiredTs }] })]);
}

function signedAt(ts: number, version = '5'): JsonObject {
  return hashAndSign(messageEvent(SENDER, ts), version, SERVER, key);
}

describe('key validity rule (room v5 and later)', () => {
  const ots = NOW - DAY_MS;

  it('passes when valid_until_ts equals origin_server_ts', async () => {
    const r = await currentKeyUntil(ots).verifyEvent(signedAt(ots), '5');
    expect(r.verdict).toBe('valid');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'passed', rule: 'valid_until_ts', key: { boundTs: ots, capped: false } });
  });

  it('fails when valid_until_ts is 1 ms less than origin_server_ts', async () => {
    const r = await currentKeyUntil(ots - 1).verifyEvent(signedAt(ots), '5');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'key_outside_validity', rule: 'valid_until_ts', passed: false });
  });

  it('passes when an old key expired_ts equals origin_server_ts', async () => {
    const r = await (await oldKeyExpiredAt(ots)).verifyEvent(signedAt(ots), '5');
    expect(r.verdict).toBe('valid');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'passed', rule: 'expired_ts', key: { kind: 'old_verify_keys', expiredTs: ots } });
  });

  it('fails when an old key expired_ts is 1 ms less than origin_server_ts', async () => {
    const r = await (await oldKeyExpiredAt(ots - 1)).verifyEvent(signedAt(ots), '5');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'key_outside_validity', rule: 'expired_ts' });
  });

  it('fails an event made after its old key expired (an expired old key), in every version from v5', async () => {
    const keyring = await oldKeyExpiredAt(NOW - 10 * DAY_MS);
    for (const v of ['5', '6', '7', '8', '9', '10', '11', '12']) {
      const r = await keyring.verifyEvent(signedAt(NOW - DAY_MS, v), v);
      expect({ v, verdict: r.verdict }).toEqual({ v, verdict: 'invalid' });
    }
  });

  it('caps valid_until_ts at now + 7 days: an event at exactly now + 7 days passes', async () => {
    const keyring = currentKeyUntil(NOW + 365 * DAY_MS);
    const r = await keyring.verifyEvent(signedAt(NOW + 7 * DAY_MS), '5');
    expect(r.verdict).toBe('valid');
    expect(r.servers[0]?.signatures[0]?.key).toMatchObject({ boundTs: NOW + 7 * DAY_MS, capped: true, validUntilTs: NOW + 365 * DAY_MS });
  });

  it('caps valid_until_ts at now + 7 days: an event 1 ms later fails although valid_until_ts is a year ahead', async () => {
    const keyring = currentKeyUntil(NOW + 365 * DAY_MS);
    const r = await keyring.verifyEvent(signedAt(NOW + 7 * DAY_MS + 1), '5');
    expect(r.verdict).toBe('invalid');
    expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'key_outside_validity', key: { capped: true } });
    expect(r.servers[0]?.signatures[0]?.reason).toMatch(/capped to now \+ 7 days/);
  });

  it('the same event with an expired key is valid under v4 and invalid under v5', async () => {
    const keyring = currentKeyUntil(ots - 1);
    const event = signedAt(ots, '4'); // v4 and v5 redact alike, so one signature serves both
    const v4 = await keyring.verifyEvent(event, '4');
    const v5 = await keyring.verifyEvent(event, '5');
    expect(v4.verdict).toBe('valid');
    expect(v4.servers[0]?.signatures[0]).toMatchObject({ outcome: 'passed', rule: 'no_validity_rule' });
    expect(v5.verdict).toBe('invalid');
    expect(v5.servers[0]?.signatures[0]).toMatchObject({ outcome: 'key_outside_validity', rule: 'valid_until_ts' });
  });

  it('room versions 1-4 accept an old key whatever its expired_ts', async () => {
    const keyring = await oldKeyExpiredAt(0);
    for (const v of ['3', '4']) {
      const r = await keyring.verifyEvent(signedAt(ots, v), v);
      expect(r.servers[0]?.signatures[0]).toMatchObject({ outcome: 'passed', rule: 'no_validity_rule' });
    }
  });

  it('uses the best of several copies of a key: a revoked copy does not hide a still-valid one', async () => {
    const other = await makeKey('ed25519:k2');
    const keyring = keyringWith([
      keyResponse({ serverName: SERVER, current: [other], validUntilTs: NOW, old: [{ key, expiredTs: ots - 5 }] }),
      keyResponse({ serverName: SERVER, current: [key], validUntilTs: ots + 5 }),
    ]);
    const r = await keyring.verifyEvent(signedAt(ots), '5');
    expect(r.verdict).toBe('valid');
    expect(r.servers[0]?.signatures[0]?.key).toMatchObject({ kind: 'verify_keys', validUntilTs: ots + 5 });
  });
});
