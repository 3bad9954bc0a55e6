/**
 * The Matrix spec's "Cryptographic Test Vectors" appendix, "JSON Signing": seed, server name and
 * key ID are the spec's; the expected signatures are copied from it. Other implementations check
 * the same vectors, so passing them means our signatures interoperate.
 */
import {
  decodeBase64,
  encodeBase64,
  encodeCanonicalJson,
  keyPairFromSeed,
  signJson,
  verifyJsonSignature,
  type Ed25519KeyPair,
} from '@matrix-notary/protocol';

const SIGNING_KEY_SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';
const SERVER_NAME = 'domain';
const KEY_ID = 'ed25519:1';

const EMPTY_OBJECT_SIGNATURE =
  'K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ';
const ONE_TWO_SIGNATURE =
  'KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw';

let kp: Ed25519KeyPair;

beforeAll(async () => {
  kp = keyPairFromSeed(decodeBase64(SIGNING_KEY_SEED));
});

test('the spec seed gives the public key other implementations publish for it', () => {
  // Cross-check of the seed decoding: ruma's tests use this public key for the same seed.
  expect(encodeBase64(kp.publicKey)).toBe('XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI');
});

test('signing the empty object gives the spec signature and the spec output', () => {
  const signed = signJson({}, SERVER_NAME, KEY_ID, kp.secretKey);
  expect(signed).toEqual({ signatures: { domain: { 'ed25519:1': EMPTY_OBJECT_SIGNATURE } } });
  expect(encodeCanonicalJson(signed)).toBe(`{"signatures":{"domain":{"ed25519:1":"${EMPTY_OBJECT_SIGNATURE}"}}}`);
});

test('signing {"one":1,"two":"Two"} gives the spec signature and keeps the data', () => {
  const signed = signJson({ one: 1, two: 'Two' }, SERVER_NAME, KEY_ID, kp.secretKey);
  expect(signed).toEqual({ one: 1, two: 'Two', signatures: { domain: { 'ed25519:1': ONE_TWO_SIGNATURE } } });
});

test('the spec signatures verify under the spec key, and not under another name or key ID', () => {
  const empty = { signatures: { domain: { 'ed25519:1': EMPTY_OBJECT_SIGNATURE } } };
  const oneTwo = { one: 1, two: 'Two', signatures: { domain: { 'ed25519:1': ONE_TWO_SIGNATURE } } };
  expect(verifyJsonSignature(empty, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(true);
  expect(verifyJsonSignature(oneTwo, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(true);
  expect(verifyJsonSignature(oneTwo, 'other', KEY_ID, kp.publicKey)).toBe(false);
  expect(verifyJsonSignature(oneTwo, SERVER_NAME, 'ed25519:2', kp.publicKey)).toBe(false);
  // The empty object's signature does not cover the other object.
  const swapped = { one: 1, two: 'Two', signatures: { domain: { 'ed25519:1': EMPTY_OBJECT_SIGNATURE } } };
  expect(verifyJsonSignature(swapped, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(false);
});

test('unsigned is left out of what is signed and put back; existing signatures are kept', () => {
  const signed = signJson(
    { one: 1, two: 'Two', unsigned: { age_ts: 1000000 }, signatures: { other: { 'ed25519:x': 'abc' } } },
    SERVER_NAME,
    KEY_ID,
    kp.secretKey,
  );
  expect(signed.signatures.domain['ed25519:1']).toBe(ONE_TWO_SIGNATURE);
  expect(signed.signatures.other).toEqual({ 'ed25519:x': 'abc' });
  expect(signed.unsigned).toEqual({ age_ts: 1000000 });
  expect(verifyJsonSignature(signed, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(true);
});

test('a changed value or a changed signature no longer verifies', () => {
  const signed = signJson({ one: 1, two: 'Two' }, SERVER_NAME, KEY_ID, kp.secretKey);
  expect(verifyJsonSignature({ ...signed, one: 2 }, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(false);
  const badSig = { ...signed, signatures: { domain: { 'ed25519:1': 'A' + ONE_TWO_SIGNATURE.slice(1) } } };
  expect(verifyJsonSignature(badSig, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(false);
  const notBase64 = { ...signed, signatures: { domain: { 'ed25519:1': '!!!' } } };
  expect(verifyJsonSignature(notBase64, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(false);
  const notString = { ...signed, signatures: { domain: { 'ed25519:1': 5 } } };
  expect(verifyJsonSignature(notString, SERVER_NAME, KEY_ID, kp.publicKey)).toBe(false);
});
