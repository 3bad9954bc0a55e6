/**
 * Trusting a notary. Its server name is read from its own GET /_matrix/key/v2/server answer, which
 * a pinned key must have signed: the name is then one the key holder vouches for, not one a
 * man-in-the-middle or a mistyped URL supplied. Without pins the notary is trusted only when the
 * caller asks for it (`insecure`, as Synapse's accept_keys_insecurely): its answers are then checked
 * against the keys it advertises itself, which catches corruption but not impersonation.
 */
import {
  checkSelfSignedKeyResponse,
  decodeBase64,
  decodeEd25519PublicKey,
  isPlainObject,
  isValidKeyId,
  verifyJsonSignature,
} from '@matrix-notary/protocol';

/** Key ID → unpadded base64 ed25519 public key. */
export type PinnedKeys = Record<string, string>;

export interface NotaryIdentity {
  serverName: string;
  trust: 'pinned' | 'insecure';
  /** The keys the notary's signatures on query answers are checked with. */
  trustedKeys: Map<string, Uint8Array>;
  /** With pins: the pinned key that verified the notary's own key response. */
  verifiedByKeyId?: string;
}

export type NotaryTrustCheck = { ok: true; identity: NotaryIdentity } | { ok: false; message: string };

export class PinnedKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PinnedKeyError';
  }
}

/** Decodes pins, throwing PinnedKeyError for a key ID or key that is not an ed25519 one. */
export function decodePinnedKeys(pins: PinnedKeys): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [keyId, key] of Object.entries(pins)) {
    if (!isValidKeyId(keyId) || !keyId.startsWith('ed25519:')) {
      throw new PinnedKeyError(`pinned key ID ${JSON.stringify(keyId)} is not an ed25519 key ID (ed25519:<version>)`);
    }
    const raw = decodeEd25519PublicKey(key);
    if (raw === null) throw new PinnedKeyError(`pinned key ${keyId} is not 32 bytes of base64`);
    out.set(keyId, raw);
  }
  return out;
}

/**
 * Judges a notary's own key response. With pins, one pinned key must carry a valid signature of
 * the response by its server_name; every pinned key then verifies query answers.
 */
export function trustNotaryKeyResponse(value: unknown, pins: Map<string, Uint8Array>, insecure: boolean): NotaryTrustCheck {
  const check = checkSelfSignedKeyResponse(value);
  if (!check.ok) return { ok: false, message: `its /_matrix/key/v2/server answer is refused: ${check.message}` };
  const response = check.response;
  const serverName = response.server_name;
  if (pins.size > 0) {
    for (const [keyId, key] of pins) {
      if (verifyJsonSignature(response, serverName, keyId, key)) {
        return { ok: true, identity: { serverName, trust: 'pinned', trustedKeys: new Map(pins), verifiedByKeyId: keyId } };
      }
    }
    return {
      ok: false,
      message: `no pinned key (${[...pins.keys()].join(', ')}) verifies its /_matrix/key/v2/server answer as ${serverName}`,
    };
  }
  if (!insecure) {
    return { ok: false, message: 'no key of it is pinned: pin one (--notary-key) or accept it insecurely (--insecure-notary)' };
  }
  const trustedKeys = new Map<string, Uint8Array>();
  for (const [keyId, entry] of Object.entries(response.verify_keys)) {
    if (keyId.startsWith('ed25519:')) trustedKeys.set(keyId, decodeBase64(entry.key));
  }
  return { ok: true, identity: { serverName, trust: 'insecure', trustedKeys } };
}

/**
 * Checks a notary's signature on one entry of a query answer: at least one signature by the
 * notary with a trusted key, and every such signature valid.
 */
export function checkNotarySignature(entry: Record<string, unknown>, identity: NotaryIdentity): { ok: true } | { ok: false; message: string } {
  const sigs = entry.signatures;
  const byNotary = isPlainObject(sigs) ? sigs[identity.serverName] : undefined;
  if (!isPlainObject(byNotary)) {
    return { ok: false, message: `no signature by the notary ${identity.serverName}` };
  }
  let verified = 0;
  for (const keyId of Object.keys(byNotary)) {
    const key = identity.trustedKeys.get(keyId);
    if (key === undefined) continue;
    if (!verifyJsonSignature(entry, identity.serverName, keyId, key)) {
      return { ok: false, message: `the notary's signature with ${keyId} does not verify` };
    }
    verified++;
  }
  if (verified === 0) {
    return { ok: false, message: `no signature by the notary ${identity.serverName} with a trusted key (${[...identity.trustedKeys.keys()].join(', ')})` };
  }
  return { ok: true };
}
