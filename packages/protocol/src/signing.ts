/**
 * Signing JSON (spec appendix "Signing JSON"): the signature covers the canonical JSON of the
 * object without its `signatures` and `unsigned` members; `unsigned` is kept as it was.
 */
import { decodeBase64, encodeBase64 } from './base64';
import { canonicalJsonBytes, type JsonObject } from './canonical-json';
import { signDetached, verifyDetached, type Ed25519SecretKey } from './ed25519';
import { isPlainObject } from './plain-object';

export type Signatures = Record<string, Record<string, string>>;

/** The bytes a signature covers. */
export function signedBytes(obj: Record<string, unknown>): Buffer {
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = obj;
  return canonicalJsonBytes(rest);
}

/** Returns a copy of `obj` with a signature by `signingName`/`keyId` added to its existing ones. */
export function signJson<T extends Record<string, unknown>>(
  obj: T,
  signingName: string,
  keyId: string,
  secretKey: Ed25519SecretKey,
): T & { signatures: Signatures } {
  const signature = encodeBase64(signDetached(signedBytes(obj), secretKey));
  const existing = isPlainObject(obj.signatures) ? (obj.signatures as Signatures) : {};
  const signatures: Signatures = { ...existing, [signingName]: { ...(existing[signingName] ?? {}), [keyId]: signature } };
  return { ...obj, signatures };
}

/** The signature by `signingName` with `keyId`, if there is one and it is a string. */
export function getSignature(obj: Record<string, unknown>, signingName: string, keyId: string): string | undefined {
  const sigs = obj.signatures;
  if (!isPlainObject(sigs)) return undefined;
  const byName = sigs[signingName];
  if (!isPlainObject(byName)) return undefined;
  const sig = byName[keyId];
  return typeof sig === 'string' ? sig : undefined;
}

/** True when `obj` carries a valid signature by `signingName` with `keyId` under `publicKey`. */
export function verifyJsonSignature(
  obj: Record<string, unknown>,
  signingName: string,
  keyId: string,
  publicKey: Uint8Array,
  bytes?: Buffer,
): boolean {
  const sig = getSignature(obj, signingName, keyId);
  if (sig === undefined) return false;
  let raw: Uint8Array;
  try {
    raw = decodeBase64(sig);
  } catch {
    return false;
  }
  return verifyDetached(raw, bytes ?? signedBytes(obj), publicKey);
}

export type { JsonObject };
