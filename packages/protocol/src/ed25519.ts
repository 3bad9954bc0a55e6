/**
 * ed25519 through libsodium (never hand-written). libsodium-wrappers loads a WebAssembly module, so
 * callers await `cryptoReady()` once at start; the functions below are synchronous after that.
 */
import sodium from 'libsodium-wrappers';

export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

let loaded = false;

export async function cryptoReady(): Promise<void> {
  if (loaded) return;
  await sodium.ready;
  loaded = true;
}

function lib(): typeof sodium {
  if (!loaded) throw new Error('libsodium is not loaded yet: await cryptoReady() before signing or verifying');
  return sodium;
}

export interface Ed25519KeyPair {
  publicKey: Uint8Array;
  /** libsodium's 64-byte secret key (seed followed by public key). Never log or persist it. */
  secretKey: Uint8Array;
}

export function generateSeed(): Uint8Array {
  return lib().randombytes_buf(ED25519_SEED_BYTES);
}

export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new Error(`an ed25519 seed is ${ED25519_SEED_BYTES} bytes, this one is ${seed.length}`);
  }
  const kp = lib().crypto_sign_seed_keypair(seed);
  return { publicKey: kp.publicKey, secretKey: kp.privateKey };
}

export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return lib().crypto_sign_detached(message, secretKey);
}

export function verifyDetached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean {
  // Not loaded is a programming error, not a bad signature: it must not read as "invalid".
  const sodiumLib = lib();
  if (signature.length !== ED25519_SIGNATURE_BYTES || publicKey.length !== ED25519_PUBLIC_KEY_BYTES) return false;
  try {
    return sodiumLib.crypto_sign_verify_detached(signature, message, publicKey);
  } catch {
    return false;
  }
}
