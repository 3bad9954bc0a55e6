/**
 * fast-check generators shared by the property-based tests (protocol and api): server names in
 * every spelling, key IDs, timestamps written every way, and the test-name convention that lets
 * the run count its generated cases (packages/testing/jest-property-cases-reporter.js).
 */
import fc from 'fast-check';

/** A test title carrying its number of generated cases, which the reporter sums over the run. */
export function withCases(title: string, numRuns: number): string {
  return `${title} [${numRuns} generated cases]`;
}

/** `arb` one time in `oneIn`, undefined otherwise (fc.option's `freq` is the odds of the nil value). */
export function sometimes<T>(arb: fc.Arbitrary<T>, oneIn: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: oneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
}

const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';

function chars(set: string) {
  return fc.constantFrom(...set.split(''));
}

// ---------------------------------------------------------------------------------------------
// Server names

/** A DNS label of the notary's canonical alphabet (lower case, digits, hyphens). */
export const dnsLabel = (maxLength = 12): fc.Arbitrary<string> => fc.string({ unit: chars(LOWER + DIGITS + '-'), minLength: 1, maxLength });

/** Canonical DNS names: lower case, no empty label, a last label that is not all digits. */
export const canonicalDnsName = fc
  .tuple(fc.array(dnsLabel(), { minLength: 0, maxLength: 4 }), fc.string({ unit: chars(LOWER + DIGITS + '-'), minLength: 1, maxLength: 10 }))
  .filter(([, last]) => !/^[0-9]+$/.test(last))
  .map(([labels, last]) => [...labels, last].join('.'));

export interface Ipv6 {
  /** The 8 pieces of the address. */
  pieces: number[];
}

/** IPv6 addresses with many zero pieces (so compression has choices) and some without. */
export const ipv6Address: fc.Arbitrary<Ipv6> = fc
  .array(fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) }, { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }) }), {
    minLength: 8,
    maxLength: 8,
  })
  .map((pieces) => ({ pieces }));

/**
 * The address in RFC 5952 form (what the WHATWG URL serialiser writes): lower-case hex without
 * leading zeros, the first longest run of two or more zero pieces written `::`. Written here from
 * the RFC, independently of the code under test.
 */
export function ipv6Canonical({ pieces }: Ipv6): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (pieces[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && pieces[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = pieces.map((p) => p.toString(16));
  if (bestLength < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Any RFC 4291 spelling of the address: pieces in either case, zero-padded or not, any run of
 * zero pieces (even one) compressed or none, the last 32 bits dotted or not.
 */
export function ipv6Spelling(address: Ipv6): fc.Arbitrary<string> {
  const { pieces } = address;
  return fc
    .record({
      upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
      pad: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 8, maxLength: 8 }),
      compress: fc.option(fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 8 })), { nil: undefined }),
      dotted: fc.boolean(),
    })
    .map(({ upper, pad, compress, dotted }) => {
      const words: string[] = pieces.map((p, i) => {
        const h = p.toString(16).padStart(pad[i], '0');
        return upper[i] ? h.toUpperCase() : h;
      });
      let last = 8;
      if (dotted) {
        last = 6;
        words.splice(6, 2, `${pieces[6] >> 8}.${pieces[6] & 0xff}.${pieces[7] >> 8}.${pieces[7] & 0xff}`);
      }
      if (compress !== undefined) {
        const [start, length] = compress;
        const end = Math.min(start + length, last);
        if (start < last && pieces.slice(start, end).every((p) => p === 0)) {
          const head = words.slice(0, start).join(':');
          const tail = words.slice(end).join(':');
          return `${head}::${tail}`;
        }
      }
      return words.join(':');
    });
}

export const ipv4Octets = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 });

export const port = fc.integer({ min: 1, max: 65535 });

export type Host = { kind: 'dns'; name: string } | { kind: 'ipv4'; octets: number[] } | { kind: 'ipv6'; address: Ipv6 };

export const host: fc.Arbitrary<Host> = fc.oneof(
  canonicalDnsName.map((name): Host => ({ kind: 'dns', name })),
  ipv4Octets.map((octets): Host => ({ kind: 'ipv4', octets })),
  ipv6Address.map((address): Host => ({ kind: 'ipv6', address })),
);

/** The one spelling of host and port that the notary accepts. */
export function canonicalSpelling(h: Host, p: number | undefined): string {
  const hostText = h.kind === 'dns' ? h.name : h.kind === 'ipv4' ? h.octets.join('.') : `[${ipv6Canonical(h.address)}]`;
  return p === undefined ? hostText : `${hostText}:${p}`;
}

/** Spellings of the same host and port that the grammar accepts but are not canonical (or happen to be). */
export function equivalentSpelling(h: Host, p: number | undefined): fc.Arbitrary<string> {
  const portText = p === undefined ? fc.constant('') : fc.integer({ min: 0, max: 5 - String(p).length }).map((zeros) => `:${'0'.repeat(zeros)}${p}`);
  let hostText: fc.Arbitrary<string>;
  if (h.kind === 'dns') {
    hostText = fc
      .tuple(fc.array(fc.boolean(), { minLength: h.name.length, maxLength: h.name.length }), fc.boolean())
      .map(([upper, dot]) => Array.from(h.name, (c, i) => (upper[i] ? c.toUpperCase() : c)).join('') + (dot ? '.' : ''));
  } else if (h.kind === 'ipv4') {
    hostText = fc.constant(h.octets.join('.'));
  } else {
    hostText = ipv6Spelling(h.address).map((s) => `[${s}]`);
  }
  return fc.tuple(hostText, portText).map(([a, b]) => a + b);
}

/** Names that are the same host written as a number, or not a host at all: never accepted. */
export const disguisedOrEmptyName: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }).map(String), // 2130706433
  ipv4Octets.chain((o) => fc.nat(3).map((i) => o.map((x, j) => (j === i ? `0${x}` : String(x))).join('.'))), // 127.0.0.01
  ipv4Octets.map((o) => `${o.join('.')}.`), // a trailing dot on an address
  fc.tuple(fc.array(dnsLabel(), { minLength: 1, maxLength: 3 }), fc.nat(3)).map(([ls, i]) => {
    const at = i % ls.length;
    return [...ls.slice(0, at), '', ...ls.slice(at)].join('.'); // an empty label (`.a`, `a..b`)
  }),
  fc.constantFrom('.', '..', 'a..', '.a', 'a.b..'),
);

/** Strings from the characters server names are made of and the ones they must not hold. */
export const junkServerName: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: chars('aAzZ09.-:[]%/@_ é\n\u0000'), maxLength: 24 }),
  fc.string({ maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 16 }),
  fc.constantFrom('[::1', '[]', '[::1]x', '::1', '[1.2.3.4]', '[fe80::1%eth0]', 'a:0', 'a:65536', 'a:', ':1', 'a:+1', 'a:1:1', '[::1]:0'),
);

/** Names longer than any server name may be (six labels of 45 or more characters: over 275). */
export const overlongName: fc.Arbitrary<string> = fc
  .array(fc.string({ unit: chars(LOWER + DIGITS + '-'), minLength: 45, maxLength: 63 }), { minLength: 6, maxLength: 8 })
  .map((ls) => ls.join('.'));

/** DNS names of exactly 240 to 270 characters, on either side of the bound of 255. */
export const nearBoundName: fc.Arbitrary<string> = fc.integer({ min: 240, max: 270 }).map((length) => {
  const body = Array.from({ length: length - 4 }, (_, i) => (i % 50 === 49 ? '.' : 'a'));
  body[body.length - 1] = 'a';
  return `${body.join('')}.org`;
});

/** Every kind of server-name input: canonical, equivalent spellings, disguised, junk, long. */
export const anyServerName: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(host, fc.option(port, { nil: undefined })).map(([h, p]) => canonicalSpelling(h, p)) },
  { weight: 3, arbitrary: fc.tuple(host, fc.option(port, { nil: undefined })).chain(([h, p]) => equivalentSpelling(h, p)) },
  { weight: 1, arbitrary: disguisedOrEmptyName },
  { weight: 2, arbitrary: junkServerName },
  { weight: 1, arbitrary: fc.oneof(overlongName, nearBoundName) },
);

/** Canonical server names that no test could reach: `.invalid` names, TEST-NET and documentation addresses. */
export const unreachableServerName: fc.Arbitrary<string> = fc.oneof(
  fc.tuple(dnsLabel(), fc.option(port, { nil: undefined })).map(([l, p]) => `${l}.invalid${p === undefined ? '' : `:${p}`}`),
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.option(port, { nil: undefined })).map(([x, p]) => `192.0.2.${x}${p === undefined ? '' : `:${p}`}`),
  fc
    .tuple(fc.integer({ min: 1, max: 0xffff }), fc.option(port, { nil: undefined }))
    .map(([x, p]) => `[2001:db8::${x.toString(16)}]${p === undefined ? '' : `:${p}`}`),
);

// ---------------------------------------------------------------------------------------------
// Key IDs and timestamps

export const validKeyId: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: chars(LOWER + 'ABCXYZ' + DIGITS + '_'), minLength: 1, maxLength: 10 }).map((v) => `ed25519:${v}`) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ unit: chars(LOWER + DIGITS + '_'), minLength: 1, maxLength: 8 }), fc.string({ unit: chars(LOWER + 'ABC' + DIGITS + '_'), minLength: 1, maxLength: 8 }))
      .map(([a, v]) => `${a}:${v}`),
  },
);

export const invalidKeyId: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('', 'ed25519', 'ed25519:', ':a', 'ed25519:a:b', 'ed25519:a-b', 'ED25519:a', 'ed25519: a', 'ed25519:ä', `ed25519:${'a'.repeat(250)}`),
  fc.string({ maxLength: 12 }).filter((s) => !/^[a-z0-9_]+:[a-zA-Z0-9_]+$/.test(s)),
);

/** Integers within ±(2^53−1), around the edges often. */
export const safeInteger = fc.oneof(
  fc.integer({ min: 0, max: 4_000_000_000_000 }),
  fc.constantFrom(0, 1, -1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
);

/** Number tokens JSON allows but canonical JSON does not: fractions, exponents, -0, beyond 2^53. */
export const nonCanonicalNumberText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('1.0', '1e2', '1E3', '-0', '0.5', '1e-400', '1.5e300', '-0.0', '9007199254740992', '-9007199254740992', '12345678901234567890', '1E+2', '0e0'),
  fc.tuple(safeInteger, fc.integer({ min: 1, max: 999 })).map(([n, f]) => `${n}.${f}`),
  fc.tuple(fc.integer({ min: 0, max: 999 }), fc.integer({ min: -20, max: 20 })).map(([n, e]) => `${n}e${e}`),
);

/** Text that is not an integer timestamp at all. */
export const nonIntegerText: fc.Arbitrary<string> = fc.oneof(
  nonCanonicalNumberText,
  fc.constantFrom('', ' 1', '1 ', '+1', '0x10', 'tomorrow', 'NaN', 'Infinity', '1_000', '١٢٣'),
  fc.string({ maxLength: 8 }).filter((s) => !/^-?[0-9]{1,16}$/.test(s)),
);

/** Characters a URL path segment may hold unencoded (RFC 3986 pchar, less `%`). */
export const PATH_SAFE = /^[A-Za-z0-9\-._~:@!$&'()*+,;=[\]]$/;
/** Characters a query-string value may hold unencoded without changing its meaning (no `&`, `=`, `+`). */
export const QUERY_SAFE = /^[A-Za-z0-9\-._~]$/;

/** The text with some characters percent-encoded (those `safe` does not allow, always), as clients differ. */
export function percentEncodeSome(text: string, safe = PATH_SAFE): fc.Arbitrary<string> {
  const units = Array.from(text);
  const encode = (c: string) => Array.from(Buffer.from(c, 'utf8'), (b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  return fc
    .array(fc.boolean(), { minLength: units.length, maxLength: units.length })
    .map((flags) => units.map((c, i) => (flags[i] || !safe.test(c) ? encode(c) : c)).join(''));
}
