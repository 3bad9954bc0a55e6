/**
 * Key bodies as MSC4499 binds them: one spelling per body, fingerprints for logs, and how each key
 * of a response is to be held (active, retired, or retired with an expired_ts too far ahead).
 */
import { createHash } from 'node:crypto';
import {
  EXPIRED_TS_SKEW_MS,
  keyBodyBytes,
  keyFingerprint,
  keyIdWithTwoBodies,
  normalizeKeyBody,
  responseKeys,
} from '@matrix-notary/protocol';
import { NOW_MS } from './fixtures';

/** A 32-byte key body (only public halves matter here: no signing, no crypto library). */
const rawKey = (fill: number) => Buffer.alloc(32, fill).fill(fill + 1, 16);
const keyBase64 = (fill: number) => rawKey(fill).toString('base64').replace(/=+$/, '');

describe('normalizeKeyBody', () => {
  test('every base64 spelling of one key is one body: standard, URL-safe, padded, unpadded', () => {
    const raw = rawKey(0xfb); // bytes whose base64 holds + and /, so the URL-safe spelling differs
    const canonical = raw.toString('base64').replace(/=+$/, '');
    expect(raw.toString('base64url')).not.toBe(canonical);
    for (const spelling of [canonical, `${canonical}=`, raw.toString('base64url')]) {
      expect(normalizeKeyBody(spelling)).toBe(canonical);
    }
  });

  test('the unused low bits of the last character do not make another body', () => {
    const body = keyBase64(1); // 43 characters: the last carries 4 bits and 2 unused
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
    const last = alphabet.indexOf(body[42]);
    const sloppy = body.slice(0, 42) + alphabet[last | 0b11];
    expect(sloppy).not.toBe(body);
    expect(normalizeKeyBody(sloppy)).toBe(body);
  });

  test('different keys stay different; a key that is not base64 is kept as its text, without separators', () => {
    expect(normalizeKeyBody(keyBase64(1))).not.toBe(normalizeKeyBody(keyBase64(2)));
    const odd = normalizeKeyBody('not base64, has spaces = and commas');
    expect(odd.startsWith('~')).toBe(true);
    expect(odd).not.toMatch(/[ ,=]/);
    expect(keyBodyBytes(odd).toString('utf8')).toBe('not base64, has spaces = and commas');
  });
});

test('keyFingerprint is SHA-256 of the key bytes, unpadded base64', () => {
  const expected = createHash('sha256').update(rawKey(1)).digest('base64').replace(/=+$/, '');
  expect(keyFingerprint(keyBase64(1))).toBe(expected);
});

test('keyIdWithTwoBodies finds a key ID with another body in old_verify_keys, and only that', () => {
  const a = keyBase64(1);
  const b = keyBase64(2);
  expect(keyIdWithTwoBodies({ verify_keys: { 'ed25519:x': { key: a } }, old_verify_keys: { 'ed25519:x': { key: a, expired_ts: 1 } } })).toBeUndefined();
  expect(keyIdWithTwoBodies({ verify_keys: { 'ed25519:x': { key: a } }, old_verify_keys: { 'ed25519:y': { key: b, expired_ts: 1 } } })).toBeUndefined();
  expect(keyIdWithTwoBodies({ verify_keys: { 'ed25519:x': { key: a } }, old_verify_keys: { 'ed25519:x': { key: b, expired_ts: 1 } } })).toBe('ed25519:x');
});

describe('responseKeys', () => {
  const a = keyBase64(1);
  const b = keyBase64(2);

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
