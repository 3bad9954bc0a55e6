/**
 * Test fixtures: deterministic ed25519 keys and origin key responses signed with them, so each
 * refusal test starts from a response that is known to pass and changes exactly one thing.
 */
import {
  encodeBase64,
  keyPairFromSeed,
  signJson,
  type Ed25519KeyPair,
  type JsonObject,
} from '@matrix-notary/protocol';

export const HOUR_MS = 60 * 60 * 1000;
export const DAY_MS = 24 * HOUR_MS;
/** A fixed "now" so validity tests do not depend on the clock. */
export const NOW_MS = 1_700_000_000_000;

/** A key pair from a seed of 32 copies of `fill`: different fills give different keys. */
export function testKeyPair(fill: number): Ed25519KeyPair {
  return keyPairFromSeed(new Uint8Array(32).fill(fill));
}

export function publicKeyBase64(kp: Ed25519KeyPair): string {
  return encodeBase64(kp.publicKey);
}

export interface OriginOptions {
  serverName?: string;
  keyId?: string;
  keyPair?: Ed25519KeyPair;
  validUntilTs?: number;
  /** Fields merged into the response before it is signed (covered by the signature). */
  extra?: Record<string, unknown>;
}

/** An origin's /_matrix/key/v2/server response, self-signed; not yet signed when `sign` is false. */
export function originResponse(opts: OriginOptions = {}, sign = true): JsonObject {
  const serverName = opts.serverName ?? 'origin.example';
  const keyId = opts.keyId ?? 'ed25519:abc';
  const kp = opts.keyPair ?? testKeyPair(1);
  const body: JsonObject = {
    server_name: serverName,
    valid_until_ts: opts.validUntilTs ?? NOW_MS + DAY_MS,
    verify_keys: { [keyId]: { key: publicKeyBase64(kp) } },
    old_verify_keys: {},
    ...(opts.extra as JsonObject | undefined),
  };
  return sign ? (signJson(body, serverName, keyId, kp.secretKey) as JsonObject) : body;
}

/** A deep copy, so a test can mangle a response without touching a shared one. */
export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
