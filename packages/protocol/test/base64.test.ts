/** Unpadded base64 (spec appendix "Unpadded Base64"): we send unpadded standard, accept all kinds. */
import { Base64Error, decodeBase64, encodeBase64 } from '@matrix-notary/protocol';

const SPEC_EXAMPLES: Array<[string, string]> = [
  ['', ''],
  ['f', 'Zg'],
  ['fo', 'Zm8'],
  ['foo', 'Zm9v'],
  ['foob', 'Zm9vYg'],
  ['fooba', 'Zm9vYmE'],
  ['foobar', 'Zm9vYmFy'],
];

test.each(SPEC_EXAMPLES)('the spec example %j encodes to %j and decodes back', (plain, encoded) => {
  expect(encodeBase64(Buffer.from(plain))).toBe(encoded);
  expect(Buffer.from(decodeBase64(encoded)).toString()).toBe(plain);
});

test('encoding a view into a larger buffer encodes only the view', () => {
  const big = Buffer.from('xxfooxx');
  expect(encodeBase64(big.subarray(2, 5))).toBe('Zm9v');
});

test('bytes that need + and / use the standard alphabet, unpadded', () => {
  expect(encodeBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8');
});

describe('decoding accepts', () => {
  test.each([
    ['unpadded standard', '+/8'],
    ['padded standard', '+/8='],
    ['unpadded URL-safe', '-_8'],
    ['padded URL-safe', '-_8='],
  ])('%s', (_label, text) => {
    expect([...decodeBase64(text)]).toEqual([0xfb, 0xff]);
  });

  test('two padding characters', () => {
    expect(Buffer.from(decodeBase64('Zg==')).toString()).toBe('f');
  });

  test('unused trailing bits that are not zero (the spec seed itself has them)', () => {
    // "…XA1" and "…XA0" differ only in the bits past the 32nd byte.
    const a = decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1');
    const b = decodeBase64('YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0');
    expect(a.length).toBe(32);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe('decoding refuses', () => {
  test.each([
    ['a character outside both alphabets', 'Zm9v!'],
    ['whitespace', 'Zm9 v'],
    ['a trailing newline', 'Zm9v\n'],
    ['both alphabets mixed', '+_8'],
    ['padding in the middle', 'Zg==Zg'],
    ['three padding characters', 'Z==='],
    ['an impossible length (4n+1)', 'Zm9vY'],
    ['a single character', 'Z'],
    ['padding that does not fill a quantum', 'Zg='],
    ['padding where none is needed', 'Zm9v='],
    ['too much padding', 'Zm8=='],
    ['non-ASCII', 'Zm9vé'],
  ])('%s', (_label, text) => {
    expect(() => decodeBase64(text)).toThrow(Base64Error);
  });

  test('a value that is not a string', () => {
    expect(() => decodeBase64(42 as unknown as string)).toThrow(Base64Error);
  });
});
