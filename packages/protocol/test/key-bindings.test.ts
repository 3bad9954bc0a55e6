/**
 * Key bodies as MSC4499 binds them: one spelling per body, fingerprints for logs, and how each key
 * of a response is to be held (active, retired, or retired with an expired_ts too far ahead).
 */
import { createHash } from 'node:crypto';
import {
  cryptoReady,
  EXPIRED_TS_SKEW_MS,
  keyBodyBytes,
  keyFingerprint,
  keyIdWithTwoBodies,
  normalizeKeyBody,
  responseKeys,
} from '@matrix-notary/protocol';
import { NOW_MS, publicKeyBase64, testKeyPair } from './fixtures';

beforeAll(cryptoReady);

describe('normalizeKeyBody', () => {
  test('every base64 spelling of one key is one body: standard, URL-safe, padded, unpadded', () => {
    const raw = Buffer.from(testKeyPair(1).publicKey);
    const canonical = raw.toString('base64').replace(/=+$/, '');
    for (const spelling of [canonical, `${canonical}=`, raw.toString('base64url')]) {
      expect(normalizeKeyBody(spelling)).toBe(canonical);
    }
  });

  test('the unused low bits of the last character do not make another body', () => {
    const body = publicKeyBase64(testKeyPair(1)); // 43 characters: the last carries 4 bits and 2 unused
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(body[42]);
    const sloppy = body.slice(0, 42) + alphabet[last | 0b11];
    expect(sloppy).not.toBe(body);
    expect(normalizeKeyBody(sloppy)).toBe(body);
  });

  test('different keys stay different; a key that is not base64 is kept as its text, without separators', () => {
    expect(normalizeKeyBody(publicKeyBase64(testKeyPair(1)))).not.toBe(normalizeKeyBody(publicKeyBase64(testKeyPair(2))));
    const odd = normalizeKeyBody('not base64, has spaces = and commas');
    expect(odd.startsWith('~')).toBe(true);
    expect(odd).not.toMatch(/[ ,=]/);
    expect(keyBodyBytes(odd).toString('utf8')).toBe('not base64, has spaces = and commas');
  });
});

test('keyFingerprint is SHA-256 of the key bytes, unpadded base64', () => {
  const raw = Buffer.from(testKeyPair(1).publicKey);
  const expected = createHash('sha256').update(raw).digest('base64').replace(/=+$/, '');
  expect(keyFingerprint(publicKeyBase64(testKeyPair(1)))).toBe(expected);
});

test('keyIdWithTwoBodies finds a key ID with another body in old_verify_keys, and only that', () => {
  const a = publicKeyBase64(testKeyPair(1));
  const b = publicKeyBase64(testKeyPair(2));
  expect(keyIdWithTwoBodies({ verify_keys: { 'ed25519:x': { key: a } }, old_verify_keys: { 'ed25519:x': { key: a, expired_ts: 1 } } })).toBeUndefined();
  expect(keyIdWithTwoBodies({ verify_keys: { 'ed25519:x': { key: a } }, old_verify_keys: { 'ed25519:y': { key: b, expired_ts: 1 } } })).toBeUndefined();
  expect(keyIdWithTwoBodies({ verify_keys: { 'ed25519:x': { key: a } }, old_verify_keys: { 'ed25519:x': { key: b, expired_ts: 1 } } })).toBe('ed25519:x');
});

describe('responseKeys', () => {
  let a: string;
  let b: string;
  beforeAll(() => {
    a = publicKeyBase64(testKeyPair(1));
    b = publicKeyBase64(testKeyPair(2));
  });

  test(`an expired_ts up to ${EXPIRED_TS_SKEW_MS / 60000} minutes ahead is used; beyond, the key is unusable and its expired_ts unrecorded`, () => {
    const keys = responseKeys(
      {
        verify_keys: { 'ed25519:now': { key: a } },
        old_verify_keys: {
          'ed25519:edge': { key: b, expired_ts: NOW_MS + EXPIRED_TS_SKEW_MS },
          'ed25519:ahead': { key: b, expired_ts: NOW_MS + EXPIRED_TS_SKEW_MS + 1 },
        },
      },
      NOW_MS,
    );
    expect(keys).toEqual([
      { keyId: 'ed25519:now', body: a, kind: 'active' },
      { keyId: 'ed25519:edge', body: b, kind: 'retired', expiredTs: NOW_MS + EXPIRED_TS_SKEW_MS },
      { keyId: 'ed25519:ahead', body: b, kind: 'unusable' },
    ]);
  });

  test('a key in both maps (same body) is active, with its expired_ts when usable', () => {
    expect(responseKeys({ verify_keys: { 'ed25519:k': { key: a } }, old_verify_keys: { 'ed25519:k': { key: a, expired_ts: 5 } } }, NOW_MS)).toEqual([
      { keyId: 'ed25519:k', body: a, kind: 'active', expiredTs: 5 },
    ]);
  });
});
