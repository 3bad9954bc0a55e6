/**
 * Generated inputs (fast-check): canonical JSON is stable under a round trip, keys come out in
 * code-point order, and signatures verify exactly when nothing was changed.
 */
import fc from 'fast-check';
import {
  canonicalJsonBytes,
  compareCodePoints,
  decodeBase64,
  encodeBase64,
  encodeCanonicalJson,
  getSignature,
  parseStrictJson,
  signedBytes,
  signJson,
  verifyDetached,
  verifyJsonSignature,
  type Ed25519KeyPair,
} from '@matrix-notary/protocol';
import { withCases } from './arbitraries';
import { testKeyPair } from './fixtures';

/** Characters where code-point and UTF-16 order, escaping or UTF-8 width change. */
const TRICKY_CHARS = ['\u0000', '\u001f', '"', '\\', '/', '\u007f', 'é', '\u2028', '\uD7FF', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}', '\u{10FFFF}'];

/** Strings of any code point (never a lone surrogate), often built from the tricky ones. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.array(fc.constantFrom(...TRICKY_CHARS), { maxLength: 6 }).map((cs) => cs.join('')),
);

const integer = fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }).filter((n) => !Object.is(n, -0));

/** Values canonical JSON can hold: integers within ±(2^53−1), strings, booleans, null, containers. */
const { json } = fc.letrec<{ json: unknown }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    integer,
    text,
    fc.array(tie('json'), { maxLength: 5 }),
    fc.dictionary(text, tie('json'), { maxKeys: 6 }),
  ),
}));

/** Reference order: compare the strings as arrays of code points. */
function byCodePoints(a: string, b: string): number {
  const ca = Array.from(a, (c) => c.codePointAt(0) as number);
  const cb = Array.from(b, (c) => c.codePointAt(0) as number);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
  return ca.length - cb.length;
}

let kp: Ed25519KeyPair;
beforeAll(async () => {
  kp = testKeyPair(3);
});

test(withCases('canonical JSON is stable: encode(parse(encode(x))) === encode(x)', 500), () => {
  fc.assert(
    fc.property(json, (x) => {
      const once = encodeCanonicalJson(x);
      expect(encodeCanonicalJson(parseStrictJson(once))).toBe(once);
      expect(encodeCanonicalJson(JSON.parse(once))).toBe(once);
    }),
    { numRuns: 500 },
  );
});

test(withCases('canonical JSON is the same whatever order the keys were inserted in', 100), () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.tuple(text, integer), { selector: ([k]) => k, maxLength: 8 }), (entries) => {
      const forward = Object.fromEntries(entries);
      const backward = Object.fromEntries([...entries].reverse());
      expect(encodeCanonicalJson(backward)).toBe(encodeCanonicalJson(forward));
    }),
    { numRuns: 100 },
  );
});

test(withCases('object keys come out in code-point order', 100), () => {
  fc.assert(
    fc.property(fc.uniqueArray(text, { maxLength: 10 }), (keys) => {
      // fromEntries makes "__proto__" an own key, as JSON.parse does; assignment would set the prototype.
      const obj: Record<string, number> = Object.fromEntries(keys.map((k, i) => [k, i]));
      const expected = '{' + [...keys].sort(byCodePoints).map((k) => `${JSON.stringify(k)}:${obj[k]}`).join(',') + '}';
      expect(encodeCanonicalJson(obj)).toBe(expected);
    }),
    { numRuns: 100 },
  );
});

test(withCases('compareCodePoints has the sign of the code-point comparison', 1000), () => {
  fc.assert(
    fc.property(text, text, (a, b) => {
      expect(Math.sign(compareCodePoints(a, b))).toBe(Math.sign(byCodePoints(a, b)));
    }),
    { numRuns: 1000 },
  );
});

const signable = fc.dictionary(
  text.filter((k) => k !== 'signatures' && k !== 'unsigned'),
  json,
  { maxKeys: 5 },
);

test(withCases('signJson then verifyJsonSignature is always true', 200), () => {
  fc.assert(
    fc.property(signable, (obj) => {
      const signed = signJson(obj as Record<string, unknown>, 'signer.example', 'ed25519:p', kp.secretKey);
      expect(verifyJsonSignature(signed, 'signer.example', 'ed25519:p', kp.publicKey)).toBe(true);
      // And after a trip through canonical bytes, as a peer receives it.
      const received = parseStrictJson(canonicalJsonBytes(signed).toString('utf8')) as Record<string, unknown>;
      expect(verifyJsonSignature(received, 'signer.example', 'ed25519:p', kp.publicKey)).toBe(true);
    }),
    { numRuns: 200 },
  );
});

test(withCases('flipping any bit of the signed bytes or of the signature makes verification fail', 300), () => {
  fc.assert(
    fc.property(signable, fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(), (obj, at, bit, inSignature) => {
      const signed = signJson(obj as Record<string, unknown>, 'signer.example', 'ed25519:p', kp.secretKey);
      const message = Buffer.from(signedBytes(signed));
      const signature = Buffer.from(decodeBase64(getSignature(signed, 'signer.example', 'ed25519:p') as string));
      const target = inSignature ? signature : message;
      target[at % target.length] ^= 1 << bit;
      expect(verifyDetached(signature, message, kp.publicKey)).toBe(false);
      if (inSignature) {
        const tampered = { ...signed, signatures: { 'signer.example': { 'ed25519:p': encodeBase64(signature) } } };
        expect(verifyJsonSignature(tampered, 'signer.example', 'ed25519:p', kp.publicKey)).toBe(false);
      } else {
        expect(verifyJsonSignature(signed, 'signer.example', 'ed25519:p', kp.publicKey, message)).toBe(false);
      }
    }),
    { numRuns: 300 },
  );
});
