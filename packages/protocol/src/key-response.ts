/**
 * An origin server's answer to GET /_matrix/key/v2/server, checked the way a notary must before it
 * countersigns or stores it (DESIGN behaviour 5). Two levels:
 *  - checkSelfSignedKeyResponse: what makes a countersignature safe (structure, canonical JSON,
 *    a valid self-signature by `server_name`); the signer needs only this.
 *    MSC4499's payload rules are here too (at most 50 `verify_keys` and 3,000 `old_verify_keys`,
 *    one body per key ID across both maps): a response breaking them is `malformed`.
 *  - validateOriginKeyResponse: plus the worker's policy (the server asked, minimum validity,
 *    banned keys), and how each key is to be bound and answered for.
 */
import { decodeBase64 } from './base64';
import { canonicalJsonBytes, CanonicalJsonError, type JsonObject } from './canonical-json';
import type { BannedKeys } from './banned-keys';
import { ED25519_PUBLIC_KEY_BYTES } from './ed25519';
import { keyIdWithTwoBodies, MAX_OLD_VERIFY_KEYS, MAX_VERIFY_KEYS, responseKeys, type ResponseKey } from './key-bindings';
import { isValidKeyId } from './key-id';
import { isValidServerName } from './server-name';
import { signedBytes, verifyJsonSignature, type Signatures } from './signing';
import { isPlainObject } from './plain-object';

export interface VerifyKey {
  key: string;
  [extra: string]: unknown;
}
export interface OldVerifyKey extends VerifyKey {
  expired_ts: number;
}

export interface ServerKeyResponse {
  server_name: string;
  valid_until_ts: number;
  verify_keys: Record<string, VerifyKey>;
  old_verify_keys?: Record<string, OldVerifyKey>;
  signatures: Signatures;
  [extra: string]: unknown;
}

export type KeyResponseRefusalReason =
  | 'not_an_object'
  | 'bad_server_name'
  | 'bad_valid_until_ts'
  | 'malformed_verify_key'
  /** MSC4499: too many keys, or one key ID with two bodies (a repeated member name is found by the parser). */
  | 'malformed'
  | 'banned_key'
  | 'not_canonical_json'
  | 'no_valid_signature'
  | 'bad_signature'
  | 'wrong_server_name'
  | 'expires_too_soon';

export interface KeyResponseRefusal {
  ok: false;
  reason: KeyResponseRefusalReason;
  message: string;
}

export type KeyResponseCheck = { ok: true; response: ServerKeyResponse; keyIds: string[] } | KeyResponseRefusal;

export type OriginResponseCheck = { ok: true; response: ServerKeyResponse; keyIds: string[]; keys: ResponseKey[] } | KeyResponseRefusal;

function refuse(reason: KeyResponseRefusalReason, message: string): KeyResponseRefusal {
  return { ok: false, reason, message };
}

/** Decodes an ed25519 public key, or returns null when it is not 32 bytes of base64. */
export function decodeEd25519PublicKey(key: unknown): Uint8Array | null {
  if (typeof key !== 'string') return null;
  try {
    const raw = decodeBase64(key);
    return raw.length === ED25519_PUBLIC_KEY_BYTES ? raw : null;
  } catch {
    return null;
  }
}

function checkKeyMap(map: unknown, old: boolean): string | null {
  if (!isPlainObject(map)) return `${old ? 'old_verify_keys' : 'verify_keys'} is not an object`;
  for (const [keyId, entry] of Object.entries(map)) {
    if (!isValidKeyId(keyId)) return `key ID ${JSON.stringify(keyId)} is not valid`;
    if (!isPlainObject(entry) || typeof entry.key !== 'string') return `key ${keyId} has no "key" string`;
    if (keyId.startsWith('ed25519:') && decodeEd25519PublicKey(entry.key) === null) {
      return `key ${keyId} is not a 32-byte base64 ed25519 key`;
    }
    if (old && (!Number.isSafeInteger(entry.expired_ts) || (entry.expired_ts as number) < 0)) {
      return `old key ${keyId} has no valid expired_ts`;
    }
  }
  return null;
}

/** Structure, canonical-JSON representability and a valid self-signature by `server_name`. */
export function checkSelfSignedKeyResponse(value: unknown): KeyResponseCheck {
  if (!isPlainObject(value)) return refuse('not_an_object', 'the key response is not a JSON object');
  if (!isValidServerName(value.server_name)) return refuse('bad_server_name', 'server_name is missing or not a valid server name');
  const serverName = value.server_name as string;
  if (!Number.isSafeInteger(value.valid_until_ts) || (value.valid_until_ts as number) < 0) {
    return refuse('bad_valid_until_ts', 'valid_until_ts is missing or not a non-negative integer');
  }
  // The ceilings come first: they bound the work (base64 decoding, hashing) a hostile origin causes.
  if (isPlainObject(value.verify_keys) && Object.keys(value.verify_keys).length > MAX_VERIFY_KEYS) {
    return refuse('malformed', `more than ${MAX_VERIFY_KEYS} keys in verify_keys`);
  }
  if (isPlainObject(value.old_verify_keys) && Object.keys(value.old_verify_keys).length > MAX_OLD_VERIFY_KEYS) {
    return refuse('malformed', `more than ${MAX_OLD_VERIFY_KEYS} keys in old_verify_keys`);
  }
  const bad = checkKeyMap(value.verify_keys, false) ?? (value.old_verify_keys === undefined ? null : checkKeyMap(value.old_verify_keys, true));
  if (bad) return refuse('malformed_verify_key', bad);
  const verifyKeys = value.verify_keys as Record<string, VerifyKey>;
  const oldKeys = (value.old_verify_keys ?? {}) as Record<string, OldVerifyKey>;
  const twoBodies = keyIdWithTwoBodies({ verify_keys: verifyKeys, old_verify_keys: oldKeys });
  if (twoBodies !== undefined) {
    return refuse('malformed', `key ${twoBodies} has one body in verify_keys and another in old_verify_keys`);
  }
  const keyIds = [...new Set([...Object.keys(verifyKeys), ...Object.keys(oldKeys)])];

  let bytes: Buffer;
  try {
    canonicalJsonBytes(value); // the whole response, signatures and unknown fields included
    bytes = signedBytes(value);
  } catch (err) {
    if (err instanceof CanonicalJsonError) return refuse('not_canonical_json', err.message);
    throw err;
  }

  const ownSignatures = isPlainObject(value.signatures) ? value.signatures[serverName] : undefined;
  if (!isPlainObject(ownSignatures)) return refuse('no_valid_signature', `no signatures by ${serverName}`);
  let valid = 0;
  // Signatures by key IDs the response does not list in verify_keys cannot be checked and are
  // ignored; every one that can be checked must pass.
  for (const keyId of Object.keys(ownSignatures)) {
    const entry = verifyKeys[keyId];
    if (entry === undefined || !keyId.startsWith('ed25519:')) continue;
    const publicKey = decodeEd25519PublicKey(entry.key) as Uint8Array;
    if (!verifyJsonSignature(value, serverName, keyId, publicKey, bytes)) {
      return refuse('bad_signature', `the signature by ${serverName} with ${keyId} does not verify`);
    }
    valid++;
  }
  if (valid === 0) return refuse('no_valid_signature', `no signature by ${serverName} with a key of its verify_keys`);
  return { ok: true, response: value as ServerKeyResponse, keyIds };
}

export interface OriginPolicy {
  /** The server the notary asked; the response must name itself so. */
  serverName: string;
  nowMs: number;
  /** Refuse responses valid for less than this from now; 0 turns the refusal off. */
  minValidityMs: number;
  /** Keys never served (NOTARY_BANNED_KEYS_FILE): a response holding one is refused. */
  bannedKeys?: BannedKeys;
}

/**
 * The worker's full check: the signer's checks plus the notary's policy. A response that passes
 * comes with its keys as the store is to bind them (`keys`, judged at `policy.nowMs`).
 */
export function validateOriginKeyResponse(value: unknown, policy: OriginPolicy): OriginResponseCheck {
  if (isPlainObject(value) && typeof value.server_name === 'string' && value.server_name !== policy.serverName) {
    return refuse('wrong_server_name', `server_name ${JSON.stringify(value.server_name)} is not the server asked (${policy.serverName})`);
  }
  const check = checkSelfSignedKeyResponse(value);
  if (!check.ok) return check;
  if (check.response.server_name !== policy.serverName) {
    return refuse('wrong_server_name', `server_name is not the server asked (${policy.serverName})`);
  }
  const keys = responseKeys(check.response, policy.nowMs);
  const banned = policy.bannedKeys?.find(policy.serverName, keys);
  if (banned !== undefined) {
    const note = banned.entry.note === undefined ? '' : ` (${banned.entry.note})`;
    return refuse('banned_key', `key ${banned.keyId} is a known-compromised key listed in NOTARY_BANNED_KEYS_FILE${note}`);
  }
  if (policy.minValidityMs > 0 && check.response.valid_until_ts < policy.nowMs + policy.minValidityMs) {
    return refuse(
      'expires_too_soon',
      `valid_until_ts ${check.response.valid_until_ts} is less than ${Math.round(policy.minValidityMs / 1000)} s from now`,
    );
  }
  return { ...check, keys };
}

/** One of the notary's keys, as countersigning sees it: its ID and a way to sign bytes with it. */
export interface NotaryKeySigner {
  keyId: string;
  sign: (bytes: Buffer) => string;
}

/**
 * The notary's countersigned copy: every field kept, the origin's own signatures kept, any third
 * server's signatures dropped, the notary's added: one per key in `signers` (the current key, and
 * during a rotation the extra keys, so callers pinning either key accept the answer). Returns
 * canonical JSON bytes, ready to serve.
 */
export function countersignedCopy(response: ServerKeyResponse, notaryName: string, signers: readonly NotaryKeySigner[]): Buffer {
  if (signers.length === 0) throw new Error('countersignedCopy needs at least one notary key');
  const origin = response.server_name;
  const copy: JsonObject = { ...(response as unknown as JsonObject) };
  delete copy.signatures;
  const bytes = signedBytes(copy);
  const notarySignatures: Record<string, string> = {};
  for (const signer of signers) notarySignatures[signer.keyId] = signer.sign(bytes);
  copy.signatures = {
    [origin]: { ...(response.signatures[origin] as Record<string, string>) },
    [notaryName]: notarySignatures,
  };
  return canonicalJsonBytes(copy);
}
