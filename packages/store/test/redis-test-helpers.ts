/**
 * Shared by the store's tests: the private test Redis (started by jest's global setup) and a unique
 * key prefix per test file (both from the testing package), cleanup of every key under that prefix,
 * a fixed clock and stand-in keys and responses.
 */
import { createHash } from 'node:crypto';
import type Redis from 'ioredis';
import type { ResponseKey } from '@matrix-notary/protocol';

/** A fixed, explicit clock: tests drive `nowMs` themselves and never sleep for rate limits. */
export const T0_MS = 1_700_000_000_000;
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

// The testing package's own module, not its index: the index loads the TLS and DNS helpers too,
// about half a second per test file that needs none of them.
export { testRedisUrl, uniquePrefix } from '@matrix-notary/testing/redis';

/** Deletes every key under `${prefix}:`; returns how many were deleted. */
export async function deleteKeysUnder(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Countersigned response bytes stand-in: JSON-ish, distinct per label, with bytes that are not UTF-8. */
export function responseBytes(label: string): Buffer {
  return Buffer.concat([Buffer.from(`{"server_keys_for":"${label}"}`), Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x80])]);
}

/**
 * Names the responses served, for readable failures: the label of each Buffer that is byte for byte
 * what responseBytes(label) stored, or `unexpected bytes <hex>` for anything else.
 */
export function labelsOf(entries: readonly Buffer[]): string[] {
  return entries.map((b) => {
    const m = /^\{"server_keys_for":"([^"]*)"\}/.exec(b.toString('latin1'));
    if (m && b.equals(responseBytes(m[1]))) return m[1];
    return `unexpected bytes ${b.toString('hex')}`;
  });
}

/** A stand-in key body, the same for a key ID every time (so tests that do not test bindings never collide). */
export function bodyOf(keyId: string, variant = ''): string {
  return createHash('sha256').update(keyId + variant).digest('base64').replace(/=+$/, '');
}

/** The keys of a response that lists every given key ID in verify_keys. */
export function activeKeys(keyIds: readonly string[]): ResponseKey[] {
  return keyIds.map((keyId) => ({ keyId, body: bodyOf(keyId), kind: 'active' }));
}

/** Key constructors for storeResponse's `keys`, with the stand-in body of bodyOf. */
export const active = (keyId: string, variant = ''): ResponseKey => ({ keyId, body: bodyOf(keyId, variant), kind: 'active' });
export const retired = (keyId: string, expiredTs: number, variant = ''): ResponseKey => ({ keyId, body: bodyOf(keyId, variant), kind: 'retired', expiredTs });
export const unusable = (keyId: string, variant = ''): ResponseKey => ({ keyId, body: bodyOf(keyId, variant), kind: 'unusable' });

/** Gives a server name no earlier call gave: `${stem}1.example.org${port}`, `${stem}2...`, so tests in a file never share records. */
export function serverNamer(stem: string, port = ''): () => string {
  let counter = 0;
  return () => `${stem}${++counter}.example.org${port}`;
}
