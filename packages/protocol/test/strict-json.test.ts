/**
 * parseStrictJson: JSON that cannot round-trip through canonical JSON is refused before anything
 * is built on it (JSON.parse would silently turn 1.0 into 1, round 2^60, keep the last duplicate).
 */
import { CanonicalJsonError, encodeCanonicalJson, MAX_JSON_DEPTH, parseStrictJson } from '@matrix-notary/protocol';

describe('accepted', () => {
  test.each([
    ['integers at the edges', '[0,-1,9007199254740991,-9007199254740991]', [0, -1, 2 ** 53 - 1, -(2 ** 53 - 1)]],
    ['whitespace around tokens', ' { "a" : [ 1 , 2 ] } ', { a: [1, 2] }],
    ['digits, dots and e inside strings', '{"1.0":"1e5 -0 1.5","x":"\\"1.0\\""}', { '1.0': '1e5 -0 1.5', x: '"1.0"' }],
    ['the same key in different objects', '{"a":{"a":1},"b":[{"a":2},{"a":3}]}', { a: { a: 1 }, b: [{ a: 2 }, { a: 3 }] }],
    ['a string value equal to a key', '{"a":"a","b":"a"}', { a: 'a', b: 'a' }],
    ['empty containers', '{"a":{},"b":[],"c":""}', { a: {}, b: [], c: '' }],
    ['scalars at the top', '"x"', 'x'],
  ])('%s', (_label, text, expected) => {
    expect(parseStrictJson(text)).toEqual(expected);
  });

  test(`nesting ${MAX_JSON_DEPTH} levels deep`, () => {
    const text = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    expect(encodeCanonicalJson(parseStrictJson(text))).toBe(text);
  });

  test('a lone surrogate is parsed, and refused when encoded', () => {
    const value = parseStrictJson('{"a":"\\ud800"}') as { a: string };
    expect(value.a).toBe('\uD800');
    expect(() => encodeCanonicalJson(value)).toThrow(CanonicalJsonError);
  });
});

describe('refused as not canonical-JSON-representable (CanonicalJsonError)', () => {
  test.each([
    ['a fraction', '{"a":1.0}'],
    ['a fraction in an array', '[1,2.5]'],
    ['an exponent', '{"a":1e5}'],
    ['an upper-case exponent', '{"a":1E5}'],
    ['a negative exponent', '[1e-5]'],
    ['minus zero', '{"a":-0}'],
    ['minus zero with a fraction', '[-0.0]'],
    ['2^53', '[9007199254740992]'],
    ['-2^53', '[-9007199254740992]'],
    ['a huge integer', '[123456789012345678901234567890]'],
    ['a duplicate key', '{"a":1,"a":2}'],
    ['a duplicate key spelled with an escape', '{"a":1,"\\u0061":2}'],
    ['a duplicate key after a nested object', '{"a":{"b":1},"c":[1,{"d":2}],"a":3}'],
    ['a duplicate key in a nested object', '[{"x":{"k":1,"k":1}}]'],
    ['a duplicate "__proto__"', '{"__proto__":1,"__proto__":2}'],
    ['nesting too deep', '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1)],
    ['object nesting too deep', '{"a":'.repeat(MAX_JSON_DEPTH + 1) + '1' + '}'.repeat(MAX_JSON_DEPTH + 1)],
  ])('%s', (_label, text) => {
    expect(() => parseStrictJson(text)).toThrow(CanonicalJsonError);
  });
});

describe('refused as not JSON at all (SyntaxError)', () => {
  // The api role answers M_NOT_JSON for these and M_BAD_JSON for the above, so the kind matters.
  test.each([
    ['empty text', ''],
    ['a bare word', 'nope'],
    ['two decimal points', '1.5.5'],
    ['a leading zero', '[01]'],
    ['a truncated object holding a float', '{"a":1.5'],
    ['a trailing comma', '[1,]'],
    ['a single-quoted string', "{'a':1}"],
    ['trailing garbage', '{"a":1}x'],
  ])('%s', (_label, text) => {
    expect(() => parseStrictJson(text)).toThrow(SyntaxError);
  });

  test('very deep nesting that is not even closed is a SyntaxError, not a stack overflow', () => {
    expect(() => parseStrictJson('['.repeat(200_000))).toThrow(SyntaxError);
  });
});
