/**
 * The spec's appendix "Cryptographic Test Vectors": JSON signing and event signing with the seed
 * YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1, server "domain", key ed25519:1.
 */
import { signJson, type JsonObject } from '@matrix-notary/protocol';
import { checkContentHash, computeContentHash, Keyring, StaticKeySource } from '../src';
import { hashAndSign, keyResponse, makeKey, seedFromBase64, type TestKey } from './helpers';

const SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';

const MINIMAL_EVENT_SIGNED: JsonObject = {
  auth_events: [],
  content: {},
  depth: 3,
  hashes: { sha256: '5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos' },
  origin: 'domain',
  origin_server_ts: 1000000,
  prev_events: [],
  room_id: '!x:domain',
  sender: '@a:domain',
  signatures: { domain: { 'ed25519:1': 'KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg' } },
  type: 'X',
  unsigned: { age_ts: 1000000 },
};

const REDACTABLE_EVENT_SIGNED: JsonObject = {
  content: { body: 'Here is the message content' },
  event_id: '$0:domain',
  hashes: { sha256: 'onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g' },
  origin: 'domain',
  origin_server_ts: 1000000,
  type: 'm.room.message',
  room_id: '!r:domain',
  sender: '@u:domain',
  signatures: { domain: { 'ed25519:1': 'Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA' } },
  unsigned: { age_ts: 1000000 },
};

let key: TestKey;
let keyring: Keyring;

beforeAll(async () => {
  key = await makeKey('ed25519:1', seedFromBase64(SEED));
  const response = keyResponse({ serverName: 'domain', current: [key], validUntilTs: 2000000 });
  keyring = new Keyring({ sources: [new StaticKeySource([response])], now: () => 1500000 });
});

describe('spec test vectors', () => {
  it('JSON signing of {} gives the appendix signature', () => {
    expect(signJson({}, 'domain', 'ed25519:1', key.secretKey).signatures).toEqual({
      domain: { 'ed25519:1': 'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ' },
    });
  });

  it('JSON signing of {"one":1,"two":"Two"} gives the appendix signature', () => {
    expect(signJson({ one: 1, two: 'Two' }, 'domain', 'ed25519:1', key.secretKey).signatures).toEqual({
      domain: { 'ed25519:1': 'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw' },
    });
  });

  it('hashing and signing the minimal event reproduces the appendix event', () => {
    const input: JsonObject = {
      room_id: '!x:domain', sender: '@a:domain', origin: 'domain', origin_server_ts: 1000000, signatures: {}, hashes: {},
      type: 'X', content: {}, prev_events: [], auth_events: [], depth: 3, unsigned: { age_ts: 1000000 },
    };
    expect(computeContentHash(input)).toBe('5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos');
    expect(hashAndSign(input, '1', 'domain', key)).toEqual(MINIMAL_EVENT_SIGNED);
  });

  it('hashing and signing the redactable event reproduces the appendix event (the signature covers the redacted form)', () => {
    const input: JsonObject = {
      content: { body: 'Here is the message content' }, event_id: '$0:domain', origin: 'domain', origin_server_ts: 1000000,
      type: 'm.room.message', room_id: '!r:domain', sender: '@u:domain', signatures: {}, unsigned: { age_ts: 1000000 },
    };
    expect(hashAndSign(input, '1', 'domain', key)).toEqual(REDACTABLE_EVENT_SIGNED);
  });

  it('verifies the appendix minimal event in room versions 3 to 10 and its content hash matches', async () => {
    for (const v of ['3', '4', '5', '6', '7', '8', '9', '10']) {
      const result = await keyring.verifyEvent(MINIMAL_EVENT_SIGNED, v);
      expect({ v, verdict: result.verdict }).toEqual({ v, verdict: 'valid' });
      expect(result.contentHash.status).toBe('match');
    }
  });

  it('rejects the appendix minimal event in room v11: its signature covers `origin`, which v11 no longer keeps', async () => {
    const result = await keyring.verifyEvent(MINIMAL_EVENT_SIGNED, '11');
    expect(result.verdict).toBe('invalid');
    expect(result.servers[0]?.signatures[0]?.outcome).toBe('bad_signature');
  });

  it('verifies the appendix redactable event in room v1, where the event_id server "domain" must sign too', async () => {
    const result = await keyring.verifyEvent(REDACTABLE_EVENT_SIGNED, '1');
    expect(result.verdict).toBe('valid');
    expect(result.eventId).toBe('$0:domain');
    expect(result.servers.map((s) => [s.serverName, s.requiredBecause])).toEqual([['domain', ['sender', 'event_id']]]);
    expect(checkContentHash(REDACTABLE_EVENT_SIGNED).status).toBe('match');
  });
});
