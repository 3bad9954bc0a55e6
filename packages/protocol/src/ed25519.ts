/**
 * ed25519 through Node's own crypto (OpenSSL; never hand-written). It needs no initialisation, so
 * every function here works as soon as the module is imported: no caller can forget a set-up step.
 * Signatures are deterministic (RFC 8032), byte-identical to libsodium's and Synapse's; a test
 * checks that against libsodium.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';

export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

// DER wrappers that turn a raw 32-byte seed or public key into the PKCS#8 / SPKI forms OpenSSL
// reads (RFC 8410: the ed25519 OID 1.3.101.112 and the raw key as an octet or bit string).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * A private key. Opaque on purpose: the key material stays inside OpenSSL, so it cannot be
 * logged, serialised or inspected by accident (util.inspect shows only its type).
 */
export type Ed25519SecretKey = KeyObject;

export interface Ed25519KeyPair {
  publicKey: Uint8Array;
  secretKey: Ed25519SecretKey;
}

export function generateSeed(): Uint8Array {
  return new Uint8Array(randomBytes(ED25519_SEED_BYTES));
}

export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new Error(`an ed25519 seed is ${ED25519_SEED_BYTES} bytes, this one is ${seed.length}`);
  }
  const der = Buffer.concat([PKCS8_PREFIX, seed]);
  const secretKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  const spki = createPublicKey(secretKey).export({ format: 'der', type: 'spki' });
  return { publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)), secretKey };
}

export function signDetached(message: Uint8Array, secretKey: Ed25519SecretKey): Uint8Array {
  return new Uint8Array(sign(null, message, secretKey));
}

/**
 * Public keys seen recently, as OpenSSL key objects: building one costs about as much as a
 * verification, and the same few keys (a notary's, a busy origin's) verify most signatures.
 */
const PUBLIC_KEY_CACHE_MAX = 1024;
const publicKeys = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, publicKey.byteLength).toString('latin1');
  let key = publicKeys.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (publicKeys.size >= PUBLIC_KEY_CACHE_MAX) publicKeys.delete(publicKeys.keys().next().value as string);
    publicKeys.set(id, key);
  }
  return key;
}

export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    // A public key that is not a point on the curve: no signature can be valid under it.
    return false;
  }
}
