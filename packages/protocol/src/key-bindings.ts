/**
 * Key IDs as bindings (MSC4499, DESIGN behaviour 12): what a key "body" is, how two bodies are
 * compared, the fingerprint logged for one, and how each key of a checked response is to be stored
 * (active, retired, or retired with an `expired_ts` too far ahead to be used). Pure.
 */
import { createHash } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64';

/** Most keys in `verify_keys` (MSC4499's active-key ceiling); more is malformed. */
export const MAX_VERIFY_KEYS = 50;
/** Most keys in `old_verify_keys` (MSC4499's retired-key ceiling per response); more is malformed. */
export const MAX_OLD_VERIFY_KEYS = 3000;
/** Retired key IDs that stay answerable per origin; past it the store evicts (DESIGN behaviour 12). */
export const MAX_RETIRED_KEYS_PER_ORIGIN = 3000;
/** An `expired_ts` further ahead than this (clock skew allowed) is not used to answer for its key. */
export const EXPIRED_TS_SKEW_MS = 5 * 60 * 1000;

/** Marks a body that is not base64 (a key of an algorithm we do not know), kept as its text. */
const TEXT_BODY_PREFIX = '~';

/**
 * The body a key ID is bound to, in one spelling: base64 keys decoded and re-encoded as unpadded
 * standard base64, so `ab+/` and `ab-_` (URL-safe) or a padded spelling are one body, not a
 * collision. A key that is not base64 at all is kept as base64 of its text, behind `~`, so the
 * result never holds a space, a comma or an `=` (the store's record separators).
 */
export function normalizeKeyBody(key: string): string {
  try {
    return encodeBase64(decodeBase64(key));
  } catch {
    return TEXT_BODY_PREFIX + Buffer.from(key, 'utf8').toString('base64').replace(/=+$/, '');
  }
}

/** The bytes a normalized body stands for: the public key itself, or the text of a non-base64 key. */
export function keyBodyBytes(body: string): Buffer {
  if (body.startsWith(TEXT_BODY_PREFIX)) return Buffer.from(body.slice(1), 'base64');
  return Buffer.from(body, 'base64');
}

/** SHA-256 of the key's bytes, unpadded base64: what MSC4499 asks collisions to be logged with. */
export function keyFingerprint(body: string): string {
  return encodeBase64(createHash('sha256').update(keyBodyBytes(body)).digest());
}

/**
 * How a key of a response is held:
 * - `active`: in `verify_keys` (the origin uses it now);
 * - `retired`: only in `old_verify_keys`, with a usable `expired_ts`;
 * - `unusable`: only in `old_verify_keys`, with an `expired_ts` more than EXPIRED_TS_SKEW_MS ahead
 *   of the fetch: bound like any other, but this response is not used to answer for it, and the
 *   `expired_ts` is not recorded (MSC4499: it does not take the first-assignment slot).
 */
export type KeyKind = 'active' | 'retired' | 'unusable';

export interface ResponseKey {
  keyId: string;
  /** normalizeKeyBody of the key. */
  body: string;
  kind: KeyKind;
  /** The `expired_ts` to record, when the response gives a usable one. */
  expiredTs?: number;
}

export interface KeyMaps {
  verify_keys: Record<string, { key: string }>;
  old_verify_keys?: Record<string, { key: string; expired_ts: number }>;
}

/**
 * A key ID of the response that carries two different bodies across `verify_keys` and
 * `old_verify_keys` (the same body in both is fine), or undefined.
 */
export function keyIdWithTwoBodies(maps: KeyMaps): string | undefined {
  const old = maps.old_verify_keys ?? {};
  for (const [keyId, entry] of Object.entries(maps.verify_keys)) {
    const retired = old[keyId];
    if (retired !== undefined && normalizeKeyBody(retired.key) !== normalizeKeyBody(entry.key)) return keyId;
  }
  return undefined;
}

/** Every key of a (checked) response, as the store is to bind and answer for it, judged at `nowMs`. */
export function responseKeys(maps: KeyMaps, nowMs: number): ResponseKey[] {
  const old = maps.old_verify_keys ?? {};
  const keys: ResponseKey[] = [];
  const usableExpiry = (ts: number | undefined) => (ts !== undefined && ts <= nowMs + EXPIRED_TS_SKEW_MS ? ts : undefined);
  for (const [keyId, entry] of Object.entries(maps.verify_keys)) {
    const expiredTs = usableExpiry(old[keyId]?.expired_ts);
    keys.push({ keyId, body: normalizeKeyBody(entry.key), kind: 'active', ...(expiredTs === undefined ? {} : { expiredTs }) });
  }
  for (const [keyId, entry] of Object.entries(old)) {
    if (Object.prototype.hasOwnProperty.call(maps.verify_keys, keyId)) continue;
    const expiredTs = usableExpiry(entry.expired_ts);
    keys.push(
      expiredTs === undefined
        ? { keyId, body: normalizeKeyBody(entry.key), kind: 'unusable' }
        : { keyId, body: normalizeKeyBody(entry.key), kind: 'retired', expiredTs },
    );
  }
  return keys;
}
