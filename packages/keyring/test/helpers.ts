/**
 * Test fixtures: servers with ed25519 keys, their key responses, and events hashed and signed the
 * way a homeserver does (content hash over the full event, signature over the redacted one).
 */
import {
  canonicalJsonBytes,
  decodeBase64,
  encodeBase64,
  generateSeed,
  keyPairFromSeed,
  signDetached,
  signedBytes,
  type Ed25519SecretKey,
  signJson,
  type JsonObject,
} from '@matrix-notary/protocol';
import { computeContentHash, redactEvent, roomVersionRules, type RoomVersionRules } from '../src';

export const DAY_MS = 24 * 60 * 60 * 1000;

export interface TestKey {
  keyId: string;
  publicKey: Uint8Array;
  publicKeyBase64: string;
  secretKey: Ed25519SecretKey;
}

export async function makeKey(keyId = 'ed25519:a1', seed?: Uint8Array): Promise<TestKey> {
  const pair = keyPairFromSeed(seed ?? generateSeed());
  return { keyId, publicKey: pair.publicKey, publicKeyBase64: encodeBase64(pair.publicKey), secretKey: pair.secretKey };
}

export function seedFromBase64(text: string): Uint8Array {
  return decodeBase64(text);
}

export interface KeyResponseSpec {
  serverName: string;
  /** Keys listed in verify_keys; the response is signed by each. */
  current: TestKey[];
  validUntilTs: number;
  old?: Array<{ key: TestKey; expiredTs: number }>;
}

/** A /_matrix/key/v2/server response, self-signed by every current key. */
export function keyResponse(spec: KeyResponseSpec): JsonObject {
  let response: JsonObject = {
    server_name: spec.serverName,
    valid_until_ts: spec.validUntilTs,
    verify_keys: Object.fromEntries(spec.current.map((k) => [k.keyId, { key: k.publicKeyBase64 }])),
    old_verify_keys: Object.fromEntries((spec.old ?? []).map((o) => [o.key.keyId, { key: o.key.publicKeyBase64, expired_ts: o.expiredTs }])),
  };
  for (const k of spec.current) response = signJson(response, spec.serverName, k.keyId, k.secretKey);
  return response;
}

/** Adds hashes.sha256 (unless `hash` is false) and a signature by `server` with `key`, as a homeserver does. */
export function hashAndSign(
  event: JsonObject,
  roomVersion: string | RoomVersionRules,
  server: string,
  key: TestKey,
  options: { hash?: boolean } = {},
): JsonObject {
  const rules = typeof roomVersion === 'string' ? roomVersionRules(roomVersion) : roomVersion;
  const withHash: JsonObject = options.hash === false ? { ...event } : { ...event, hashes: { sha256: computeContentHash(event) } };
  return addSignature(withHash, rules, server, key);
}

/** Adds one more signature over the redacted event (another server, or another key). */
export function addSignature(event: JsonObject, rules: RoomVersionRules, server: string, key: TestKey): JsonObject {
  const signature = encodeBase64(signDetached(signedBytes(redactEvent(event, rules.redaction)), key.secretKey));
  const existing = (event.signatures ?? {}) as Record<string, Record<string, string>>;
  return { ...event, signatures: { ...existing, [server]: { ...(existing[server] ?? {}), [key.keyId]: signature } } };
}

/** A plain message event of `sender`, with a body the redaction algorithm strips. */
export function messageEvent(sender: string, originServerTs: number, extra: JsonObject = {}): JsonObject {
  const server = sender.slice(sender.indexOf(':') + 1);
  return {
    type: 'm.room.message',
    room_id: `!room:${server}`,
    sender,
    origin_server_ts: originServerTs,
    depth: 5,
    prev_events: ['$prev'],
    auth_events: ['$auth'],
    content: { msgtype: 'm.text', body: 'hello' },
    unsigned: { age: 10 },
    ...extra,
  };
}

/** Bytes that canonical JSON gives, for comparing with what a server signs. */
export function canonical(value: unknown): string {
  return canonicalJsonBytes(value).toString('utf8');
}
