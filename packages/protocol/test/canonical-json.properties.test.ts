/**
 * Generated inputs (fast-check) for canonical JSON beyond the round trips of properties.test.ts:
 * the encoder and the strict parser refuse exactly what canonical JSON cannot hold (the same
 * things, each with its documented error type), and nothing else escapes either of them.
 */
import fc from 'fast-check';
import {
  CanonicalJsonError,
  DuplicateMemberError,
  encodeCanonicalJson,
  MAX_JSON_DEPTH,
  MAX_SAFE_JSON_INTEGER,
  parseStrictJson,
} from '@matrix-notary/protocol';
import { nonCanonicalNumberText, sometimes, withCases } from './arbitraries';

/** Characters where escaping, UTF-16 order or the scanners' string skipping matter. */
const TRICKY = ['"', '\\', '/', '{', '}', '[', ']', ',', ':', '-', '1', 'e', '.', '\u0000', '\u001f', '\u007f', 'é', '\u2028', '\uE000', '\uFFFF', '\u{10000}', '\u{1F600}'];
const LONE_SURROGATES = ['\uD800', '\uDBFF', '\uDC00', '\uDFFF'];

const wellFormedText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.array(fc.constantFrom(...TRICKY), { maxLength: 6 }).map((cs) => cs.join('')),
);
/** Strings that may hold a lone surrogate (which has no UTF-8 form). */
const anyText = fc.oneof(
  { weight: 5, arbitrary: wellFormedText },
  { weight: 1, arbitrary: fc.tuple(wellFormedText, fc.constantFrom(...LONE_SURROGATES), wellFormedText).map(([a, s, b]) => a + s + b) },
);

// ---------------------------------------------------------------------------------------------
// Values: what the encoder is given.

/** Every kind of number, JSON-representable or not. */
const anyNumber = fc.oneof(
  fc.integer({ min: -MAX_SAFE_JSON_INTEGER, max: MAX_SAFE_JSON_INTEGER }),
  fc.double(),
  fc.constantFrom(-0, MAX_SAFE_JSON_INTEGER + 1, -MAX_SAFE_JSON_INTEGER - 1, 2 ** 60, 1e21, 0.1, NaN, Infinity, -Infinity),
);

/** Values that are not JSON at all. */
const notJson = fc.constantFrom<unknown>(undefined, 1n, Symbol('s'), () => 1, new Date(0), new Map(), new Set(), /re/, new Uint8Array(2));

const { value } = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    anyNumber,
    anyText,
    notJson,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(anyText, tie('value'), { maxKeys: 4 }),
  ),
}));

/** A value, sometimes wrapped in containers to around the depth bound. */
const deepOrNot = fc.oneof(
  { weight: 4, arbitrary: value },
  {
    weight: 1,
    arbitrary: fc
      .tuple(value, fc.integer({ min: MAX_JSON_DEPTH - 3, max: MAX_JSON_DEPTH + 3 }), fc.array(fc.boolean(), { minLength: MAX_JSON_DEPTH + 3, maxLength: MAX_JSON_DEPTH + 3 }))
      .map(([inner, levels, objectAt]) => {
        let v = inner;
        for (let i = 0; i < levels; i++) v = objectAt[i] ? { k: v } : [v];
        return v;
      }),
  },
);

/** Reference: every high surrogate is followed by a low one and every low one follows a high one. */
function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xdc00 && c <= 0xdfff) return false;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    }
  }
  return true;
}

/** Reference: can canonical JSON hold this value? `depth` counts the containers around it. */
function representable(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isInteger(v) && !Object.is(v, -0) && Math.abs(v) <= MAX_SAFE_JSON_INTEGER;
  if (typeof v === 'string') return wellFormed(v);
  if (typeof v !== 'object') return false;
  if (depth + 1 > MAX_JSON_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x) => representable(x, depth + 1));
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return false;
  // A member whose value is undefined is left out, as JSON.stringify leaves it out.
  return Object.entries(v).every(([k, x]) => x === undefined || (wellFormed(k) && representable(x, depth + 1)));
}

const VALUE_RUNS = 2000;
test(withCases('the encoder refuses exactly what canonical JSON cannot hold, with CanonicalJsonError, and the strict parser takes back all it writes', VALUE_RUNS), () => {
  fc.assert(
    fc.property(deepOrNot, (v) => {
      let text: string;
      try {
        text = encodeCanonicalJson(v);
      } catch (err) {
        expect(err).toBeInstanceOf(CanonicalJsonError);
        expect(representable(v)).toBe(false);
        return;
      }
      expect(representable(v)).toBe(true);
      const back = parseStrictJson(text);
      expect(back).toEqual(v);
      expect(encodeCanonicalJson(back)).toBe(text);
    }),
    { numRuns: VALUE_RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// Text: what the strict parser is given. A tree remembers how each token was written.

type Tree =
  | { t: 'lit'; text: 'null' | 'true' | 'false' }
  | { t: 'num'; text: string; canonical: boolean }
  | { t: 'str'; text: string; value: string }
  | { t: 'arr'; items: Tree[] }
  | { t: 'obj'; members: Array<{ key: { text: string; value: string }; value: Tree }> };

const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One JSON spelling of a string: each UTF-16 unit raw where JSON allows it, or escaped one of the ways JSON allows. */
function spellString(s: string): fc.Arbitrary<{ text: string; value: string }> {
  const units = s.split('');
  return fc.array(fc.nat(3), { minLength: units.length, maxLength: units.length }).map((how) => {
    const body = units
      .map((c, i) => {
        const code = c.charCodeAt(0);
        const mustEscape = c === '"' || c === '\\' || code < 0x20;
        const choice = mustEscape ? 1 + (how[i] % 3) : how[i];
        if (choice === 0) return c;
        if (choice === 1 && SHORT_ESCAPES[c] !== undefined) return SHORT_ESCAPES[c];
        if (choice === 1 && c === '/') return '\\/';
        const hex = code.toString(16).padStart(4, '0');
        return `\\u${choice === 3 ? hex.toUpperCase() : hex}`;
      })
      .join('');
    return { text: `"${body}"`, value: s };
  });
}

const stringToken = anyText.chain(spellString);

const numberToken = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -MAX_SAFE_JSON_INTEGER, max: MAX_SAFE_JSON_INTEGER }).map((n) => ({ t: 'num' as const, text: String(n), canonical: true })) },
  { weight: 1, arbitrary: nonCanonicalNumberText.map((text) => ({ t: 'num' as const, text, canonical: false })) },
);

const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom<Tree>({ t: 'lit', text: 'null' }, { t: 'lit', text: 'true' }, { t: 'lit', text: 'false' }),
    numberToken,
    stringToken.map((s): Tree => ({ t: 'str', ...s })),
    fc.array(tie('tree'), { maxLength: 4 }).map((items): Tree => ({ t: 'arr', items })),
    fc
      .tuple(fc.array(fc.tuple(stringToken, tie('tree')), { maxLength: 4 }), sometimes(fc.tuple(fc.nat(), stringToken.map((k) => k.value), tie('tree')), 4))
      .chain(([members, duplicate]) => {
        const plain = members.map(([key, v]) => ({ key, value: v }));
        if (duplicate === undefined || plain.length === 0) return fc.constant<Tree>({ t: 'obj', members: plain });
        // The same name again (perhaps spelled with other escapes), with another value.
        const [at, , v] = duplicate;
        const original = plain[at % plain.length];
        return spellString(original.key.value).map((key): Tree => {
          const copy = [...plain];
          copy.splice(at % (plain.length + 1), 0, { key, value: v });
          return { t: 'obj', members: copy };
        });
      }),
  ),
}));

const deepTree = fc.oneof(
  { weight: 4, arbitrary: tree },
  {
    weight: 1,
    arbitrary: fc.tuple(tree, fc.integer({ min: MAX_JSON_DEPTH - 3, max: MAX_JSON_DEPTH + 3 })).map(([inner, levels]) => {
      let v = inner;
      for (let i = 0; i < levels; i++) v = i % 2 ? { t: 'arr', items: [v] } : { t: 'obj', members: [{ key: { text: '"k"', value: 'k' }, value: v }] };
      return v;
    }),
  },
);

const WHITESPACE = fc.constantFrom('', '', '', ' ', '\n', '\t', '\r\n ');

/** Writes the tree as JSON text, with generated whitespace between tokens. */
function write(t: Tree, ws: () => string): string {
  switch (t.t) {
    case 'lit':
    case 'num':
    case 'str':
      return t.text;
    case 'arr':
      return `[${ws()}${t.items.map((x) => write(x, ws)).join(`${ws()},${ws()}`)}${ws()}]`;
    case 'obj':
      return `{${ws()}${t.members.map((m) => `${m.key.text}${ws()}:${ws()}${write(m.value, ws)}`).join(`${ws()},${ws()}`)}${ws()}}`;
  }
}

interface Findings {
  number: boolean;
  depth: boolean;
  duplicate: boolean;
  loneSurrogate: boolean;
}

/** Reference: what in the tree canonical JSON cannot hold. */
function findings(t: Tree, depth = 0, f: Findings = { number: false, depth: false, duplicate: false, loneSurrogate: false }): Findings {
  if (t.t === 'num' && !t.canonical) f.number = true;
  if (t.t === 'str' && !wellFormed(t.value)) f.loneSurrogate = true;
  if (t.t === 'arr' || t.t === 'obj') {
    if (depth + 1 > MAX_JSON_DEPTH) f.depth = true;
    if (t.t === 'arr') t.items.forEach((x) => findings(x, depth + 1, f));
    else {
      const names = t.members.map((m) => m.key.value);
      if (new Set(names).size !== names.length) f.duplicate = true;
      for (const m of t.members) {
        if (!wellFormed(m.key.value)) f.loneSurrogate = true;
        findings(m.value, depth + 1, f);
      }
    }
  }
  return f;
}

/** Reference canonical form of an accepted tree: keys by code point, the last of nothing (no duplicates here). */
function canonicalText(t: Tree): string {
  switch (t.t) {
    case 'lit':
    case 'num':
      return t.text;
    case 'str':
      return JSON.stringify(t.value);
    case 'arr':
      return `[${t.items.map(canonicalText).join(',')}]`;
    case 'obj': {
      const byCodePoint = (a: string, b: string) => {
        const ca = Array.from(a, (c) => c.codePointAt(0) as number);
        const cb = Array.from(b, (c) => c.codePointAt(0) as number);
        for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
        return ca.length - cb.length;
      };
      const members = [...t.members].sort((a, b) => byCodePoint(a.key.value, b.key.value));
      return `{${members.map((m) => `${JSON.stringify(m.key.value)}:${canonicalText(m.value)}`).join(',')}}`;
    }
  }
}

const TEXT_RUNS = 2000;
test(withCases('the strict parser refuses exactly non-integer numbers, -0, integers beyond 2^53, depth over the bound and repeated names (however spelled), with its documented errors', TEXT_RUNS), () => {
  fc.assert(
    fc.property(deepTree, fc.array(WHITESPACE, { minLength: 64, maxLength: 64 }), (t, spaces) => {
      let i = 0;
      const text = write(t, () => spaces[i++ % spaces.length]);
      const f = findings(t);
      let parsed: unknown;
      try {
        parsed = parseStrictJson(text);
      } catch (err) {
        expect(err).toBeInstanceOf(CanonicalJsonError);
        expect(f.number || f.depth || f.duplicate).toBe(true);
        // Numbers and depth are judged first; a repeated name alone is a DuplicateMemberError.
        if (!f.number && !f.depth) expect(err).toBeInstanceOf(DuplicateMemberError);
        if (!f.duplicate) expect(err).not.toBeInstanceOf(DuplicateMemberError);
        return;
      }
      expect(f.number || f.depth || f.duplicate).toBe(false);
      expect(parsed).toEqual(JSON.parse(text));
      // A lone surrogate is parsed (JSON allows it) but has no canonical form: the encoder refuses it.
      if (f.loneSurrogate) {
        expect(() => encodeCanonicalJson(parsed)).toThrow(CanonicalJsonError);
      } else {
        expect(encodeCanonicalJson(parsed)).toBe(canonicalText(t));
      }
    }),
    { numRuns: TEXT_RUNS },
  );
});

/** Text near JSON: valid JSON with a few characters inserted, removed or replaced, and plain strings. */
const nearJson = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: fc.constantFrom(...'{}[]",:-.0123456789eE+ \\tnrufals'.split('')), maxLength: 30 }),
  fc
    .tuple(tree.map((t) => write(t, () => '')), fc.array(fc.tuple(fc.nat(), fc.nat(2), fc.constantFrom(...'{}[]",:-.0eE+ \\u'.split(''))), { minLength: 1, maxLength: 3 }))
    .map(([text, edits]) => {
      let s = text;
      for (const [at, kind, c] of edits) {
        const i = s.length === 0 ? 0 : at % s.length;
        s = kind === 0 ? s.slice(0, i) + c + s.slice(i) : kind === 1 ? s.slice(0, i) + s.slice(i + 1) : s.slice(0, i) + c + s.slice(i + 1);
      }
      return s;
    }),
);

const NEAR_RUNS = 2000;
test(withCases('any text: the strict parser throws only SyntaxError or CanonicalJsonError, and what it accepts JSON.parse reads the same and the encoder writes back or refuses as a lone surrogate', NEAR_RUNS), () => {
  fc.assert(
    fc.property(nearJson, (text) => {
      let parsed: unknown;
      try {
        parsed = parseStrictJson(text);
      } catch (err) {
        expect(err instanceof SyntaxError || err instanceof CanonicalJsonError).toBe(true);
        return;
      }
      expect(parsed).toEqual(JSON.parse(text));
      let again: string;
      try {
        again = encodeCanonicalJson(parsed);
      } catch (err) {
        expect(err).toBeInstanceOf(CanonicalJsonError);
        expect(representable(parsed)).toBe(false);
        return;
      }
      expect(parseStrictJson(again)).toEqual(parsed);
    }),
    { numRuns: NEAR_RUNS },
  );
});
