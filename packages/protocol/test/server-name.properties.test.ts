/**
 * Generated inputs (fast-check) for the server-name grammar and its one canonical spelling: every
 * host has exactly one accepted spelling, canonicalising is idempotent, nothing throws, and the
 * length bound holds whatever the name holds.
 */
import fc from 'fast-check';
import {
  canonicalServerName,
  isValidServerName,
  MAX_SERVER_NAME_LENGTH,
  nonCanonicalServerNameReason,
  parseServerName,
  type ParsedServerName,
} from '@matrix-notary/protocol';
import {
  anyServerName,
  canonicalSpelling,
  disguisedOrEmptyName,
  equivalentSpelling,
  host,
  nearBoundName,
  overlongName,
  port,
  withCases,
} from './arbitraries';

/** The host a parse names, in one form: DNS names without their trailing dot, IPv6 expanded. */
function sameHost(parsed: ParsedServerName): string {
  if (parsed.kind === 'ipv6') return new URL(`http://[${parsed.host}]/`).hostname;
  return parsed.host.replace(/\.$/, '');
}

const ANY_NAME_RUNS = 4000;
test(withCases('any input: parsing never throws, canonicalising is idempotent and lands on an accepted name for the same host and port', ANY_NAME_RUNS), () => {
  fc.assert(
    fc.property(anyServerName, (name) => {
      const parsed = parseServerName(name);
      expect(isValidServerName(name)).toBe(parsed !== null);
      const canonical = canonicalServerName(name);
      const reason = nonCanonicalServerNameReason(name);
      if (parsed === null) {
        expect(canonical).toBeNull();
        expect(reason).toBe('it is not a valid server name');
        return;
      }
      // Accepted exactly when the name is its own canonical spelling.
      expect(reason === null).toBe(canonical === name);
      if (canonical === null) {
        // Only a DNS name can lack a canonical spelling (an empty label, or an address in disguise).
        expect(parsed.kind).toBe('dns');
        expect(reason).toMatch(/empty label|all digits/);
        return;
      }
      expect(canonicalServerName(canonical)).toBe(canonical);
      expect(nonCanonicalServerNameReason(canonical)).toBeNull();
      expect(canonical.length).toBeLessThanOrEqual(MAX_SERVER_NAME_LENGTH);
      const again = parseServerName(canonical) as ParsedServerName;
      expect(again).not.toBeNull();
      expect(sameHost(again)).toBe(sameHost(parsed));
      expect(again.port).toBe(parsed.port);
      // A refusal of a name that has a canonical spelling says which one to write.
      if (reason !== null && !/empty label|all digits/.test(reason)) expect(reason).toContain(JSON.stringify(canonical));
    }),
    { numRuns: ANY_NAME_RUNS },
  );
});

const SPELLING_RUNS = 2000;
test(withCases('every spelling of one host and port canonicalises to the same name, the only one accepted (DNS case and trailing dot, port zeros, IPv6 forms)', SPELLING_RUNS), () => {
  fc.assert(
    fc.property(
      fc.tuple(host, fc.option(port, { nil: undefined })).chain(([h, p]) =>
        fc.tuple(fc.constant(canonicalSpelling(h, p)), fc.array(equivalentSpelling(h, p), { minLength: 1, maxLength: 4 })),
      ),
      ([expected, spellings]) => {
        expect(nonCanonicalServerNameReason(expected)).toBeNull();
        expect(canonicalServerName(expected)).toBe(expected);
        for (const spelling of spellings) {
          expect(isValidServerName(spelling)).toBe(true);
          expect(canonicalServerName(spelling)).toBe(expected);
          expect(nonCanonicalServerNameReason(spelling) === null).toBe(spelling === expected);
        }
      },
    ),
    { numRuns: SPELLING_RUNS },
  );
});

const DISGUISED_RUNS = 1000;
test(withCases('numeric addresses in disguise and names with empty labels are never accepted and have no canonical spelling (unless an address with a trailing dot)', DISGUISED_RUNS), () => {
  fc.assert(
    fc.property(disguisedOrEmptyName, fc.option(port, { nil: undefined }), (name, p) => {
      const withPort = p === undefined ? name : `${name}:${p}`;
      expect(nonCanonicalServerNameReason(withPort)).not.toBeNull();
      const canonical = canonicalServerName(withPort);
      if (canonical !== null) {
        // `1.2.3.4.` is the address 1.2.3.4: that is its canonical spelling, but not the one accepted.
        expect(name).toMatch(/^(\d+\.){4}$/);
        expect(canonical).toBe(`${name.slice(0, -1)}${p === undefined ? '' : `:${p}`}`);
      }
    }),
    { numRuns: DISGUISED_RUNS },
  );
});

const LENGTH_RUNS = 1000;
test(withCases(`length bound: names over ${MAX_SERVER_NAME_LENGTH} characters are invalid, names of canonical labels up to it are valid`, LENGTH_RUNS), () => {
  fc.assert(
    fc.property(fc.oneof(overlongName, nearBoundName), fc.option(port, { nil: undefined }), (name, p) => {
      const full = p === undefined ? name : `${name}:${p}`;
      expect(isValidServerName(full)).toBe(full.length <= MAX_SERVER_NAME_LENGTH);
      expect(nonCanonicalServerNameReason(full) === null).toBe(full.length <= MAX_SERVER_NAME_LENGTH);
    }),
    { numRuns: LENGTH_RUNS },
  );
});
