/**
 * Parsing JSON that must survive a round trip through canonical JSON unchanged. JSON.parse silently
 * turns `1.0` into 1, rounds 2^60 and keeps only the last of duplicate keys; each would make a
 * signature checked over re-encoded bytes differ from what the sender signed, so such input is
 * refused here, before anything is built on it.
 */
import { CanonicalJsonError, MAX_JSON_DEPTH, MAX_SAFE_JSON_INTEGER, type JsonValue } from './canonical-json';

const INTEGER = /^-?(0|[1-9][0-9]*)$/;

/** A JSON object repeats a member name (MSC4499 refuses such key responses whole, as malformed). */
export class DuplicateMemberError extends CanonicalJsonError {
  constructor(message: string) {
    super(message);
    this.name = 'DuplicateMemberError';
  }
}

/**
 * Scans the number tokens and nesting of (already valid) JSON text, outside strings; throws
 * CanonicalJsonError on what canonical JSON cannot hold: a number that is not written as an
 * integer (`1.0`, `1e2`), `-0`, an integer beyond ±(2^53−1), nesting deeper than MAX_JSON_DEPTH.
 */
export function checkJsonNumbers(text: string): void {
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
      continue;
    }
    if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > MAX_JSON_DEPTH) throw new CanonicalJsonError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n) {
        const d = text.charCodeAt(j);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) j++;
        else break;
      }
      const token = text.slice(i, j);
      if (!INTEGER.test(token)) throw new CanonicalJsonError(`number ${token} is not an integer`);
      if (token === '-0') throw new CanonicalJsonError('-0 has no canonical JSON form');
      const digits = token.startsWith('-') ? token.slice(1) : token;
      if (digits.length > 16 || Math.abs(Number(token)) > MAX_SAFE_JSON_INTEGER) {
        throw new CanonicalJsonError(`integer ${token} is outside ±(2^53−1)`);
      }
      i = j;
      continue;
    }
    i++;
  }
}

/**
 * Parses JSON text that must be canonical-JSON-representable: integers only (within ±(2^53−1),
 * no -0), no duplicate keys, nesting bounded. Throws SyntaxError for text that is not JSON at all
 * and CanonicalJsonError for JSON that canonical JSON cannot represent. (Lone surrogates, `"\ud800"`,
 * are parsed; encoding them is what refuses them.)
 */
export function parseStrictJson(text: string): JsonValue {
  // JSON.parse first, so text that is not JSON at all (`1.5.5`, `[01]`) is a SyntaxError and not
  // mistaken for a number canonical JSON cannot hold; the scans below may then trust the syntax.
  // V8 parses iteratively, so deep nesting costs no stack before the depth check refuses it.
  const value = JSON.parse(text) as JsonValue;
  checkJsonNumbers(text);
  assertNoDuplicateKeys(text);
  return value;
}

/**
 * Duplicate keys are found by a second, structural scan of the (already valid) JSON text, keeping
 * the set of decoded keys per open object. It runs on origin responses only, never on the hot path.
 */
function assertNoDuplicateKeys(text: string): void {
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.has(key)) throw new DuplicateMemberError(`duplicate key ${JSON.stringify(key)} in an object`);
        top.add(key);
        expectKey = false;
      }
      i = j + 1;
      continue;
    }
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
    } else if (c === '}' || c === ']') {
      stack.pop();
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] !== null && stack.length > 0;
    }
    i++;
  }
}
