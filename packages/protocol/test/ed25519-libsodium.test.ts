/**
 * Signing runs on Node's crypto (no initialisation to forget); libsodium is what Synapse and most
 * Matrix servers sign with. Both must give the same signatures and the same verdicts, bit for bit,
 * on any seed and message.
 */
import fc from 'fast-check';
import sodium from 'libsodium-wrappers';
import { keyPairFromSeed, signDetached, verifyDetached } from '@matrix-notary/protocol';

beforeAll(async () => {
  await sodium.ready; // libsodium (the reference here) is the one that needs loading
});

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const message = fc.uint8Array({ maxLength: 2048 });

test('the public key and the signature are the ones libsodium gives', () => {
  fc.assert(
    fc.property(seed, message, (s, m) => {
      const ours = keyPairFromSeed(s);
      const theirs = sodium.crypto_sign_seed_keypair(s);
      expect(Buffer.from(ours.publicKey)).toEqual(Buffer.from(theirs.publicKey));
      expect(Buffer.from(signDetached(m, ours.secretKey))).toEqual(Buffer.from(sodium.crypto_sign_detached(m, theirs.privateKey)));
    }),
    { numRuns: 300 },
  );
});

test('verification agrees with libsodium on good, altered and foreign signatures', () => {
  fc.assert(
    fc.property(seed, seed, message, fc.nat(63), fc.integer({ min: 1, max: 255 }), (s, other, m, at, flip) => {
      const pair = keyPairFromSeed(s);
      const signature = signDetached(m, pair.secretKey);
      const altered = Uint8Array.from(signature);
      altered[at] ^= flip;
      const foreign = keyPairFromSeed(other).publicKey;
      for (const [sig, key] of [[signature, pair.publicKey], [altered, pair.publicKey], [signature, foreign]] as const) {
        expect(verifyDetached(sig, m, key)).toBe(sodium.crypto_sign_verify_detached(sig, m, key));
      }
    }),
    { numRuns: 300 },
  );
});

test('wrong lengths are simply not valid', () => {
  const pair = keyPairFromSeed(new Uint8Array(32));
  const sig = signDetached(Buffer.from('x'), pair.secretKey);
  expect(verifyDetached(sig.subarray(1), Buffer.from('x'), pair.publicKey)).toBe(false);
  expect(verifyDetached(sig, Buffer.from('x'), pair.publicKey.subarray(1))).toBe(false);
  expect(() => keyPairFromSeed(new Uint8Array(31))).toThrow('an ed25519 seed is 32 bytes');
});
