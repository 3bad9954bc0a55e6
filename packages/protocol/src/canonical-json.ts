/**
 * Canonical JSON, as the Matrix spec's appendix defines it: object keys sorted by Unicode code
 * point, no insignificant whitespace, UTF-8 text left raw, integers only (within ±(2^53−1)).
 * Signatures are computed over these bytes, so any deviation breaks interoperability.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export const MAX_SAFE_JSON_INTEGER = Number.MAX_SAFE_INTEGER; // 2^53 − 1

/**
 * Most objects and arrays nested in one another. The encoder and the strict parser share it, so
 * whatever one accepts the other does too (what is encoded can be parsed back).
 */
export const MAX_JSON_DEPTH = 100;

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CanonicalJsonError';
  }
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Compares two strings by Unicode code point. JavaScript's default ordering compares UTF-16 code
 * units, which puts astral characters (surrogate pairs) before U+E000–U+FFFF; the spec wants them after.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // A surrogate (D800–DFFF) stands for a code point ≥ U+10000, above every BMP character.
    const sa = ca >= 0xd800 && ca <= 0xdfff;
    const sb = cb >= 0xd800 && cb <= 0xdfff;
    if (sa !== sb) return sa ? 1 : -1;
    return ca - cb;
  }
  return a.length - b.length;
}

function encodeString(s: string): string {
  if (LONE_SURROGATE.test(s)) {
    throw new CanonicalJsonError('string holds a lone UTF-16 surrogate, which has no UTF-8 form');
  }
  // JSON.stringify already escapes exactly what canonical JSON escapes: `"`, `\`, the short
  // escapes \b \t \n \f \r, and other control characters as lowercase \u00XX; all else stays raw.
  return JSON.stringify(s);
}

function encodeNumber(n: number): string {
  if (!Number.isInteger(n)) throw new CanonicalJsonError(`number ${n} is not an integer`);
  if (Object.is(n, -0)) throw new CanonicalJsonError('-0 has no canonical JSON form');
  if (Math.abs(n) > MAX_SAFE_JSON_INTEGER) {
    throw new CanonicalJsonError(`integer ${n} is outside ±(2^53−1)`);
  }
  return String(n);
}

/** `depth` is the number of objects and arrays that enclose `value`. */
function encode(value: unknown, depth: number): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return encodeNumber(value);
    case 'string':
      return encodeString(value);
    case 'object': {
      if (depth >= MAX_JSON_DEPTH) throw new CanonicalJsonError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
      if (Array.isArray(value)) {
        return '[' + value.map((v) => encode(v, depth + 1)).join(',') + ']';
      }
      // A plain object has Object.prototype (of whichever realm made it) or null as its prototype.
      const proto = Object.getPrototypeOf(value);
      if (proto !== null && Object.getPrototypeOf(proto) !== null) {
        throw new CanonicalJsonError('only plain objects, arrays, strings, integers, booleans and null are JSON');
      }
      const keys = Object.keys(value).sort(compareCodePoints);
      const parts: string[] = [];
      for (const k of keys) {
        const v = (value as Record<string, unknown>)[k];
        if (v === undefined) continue;
        parts.push(encodeString(k) + ':' + encode(v, depth + 1));
      }
      return '{' + parts.join(',') + '}';
    }
    default:
      throw new CanonicalJsonError(`a ${typeof value} has no JSON form`);
  }
}

/** Encodes a value as canonical JSON text (UTF-8 when written with Buffer.from(text)). */
export function encodeCanonicalJson(value: unknown): string {
  return encode(value, 0);
}

export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(encodeCanonicalJson(value), 'utf8');
}
