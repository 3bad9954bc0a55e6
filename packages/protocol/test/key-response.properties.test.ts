/**
 * Generated origin key responses (fast-check) through the check a worker makes before anything is
 * stored: the origin's bytes parsed strictly, then validateOriginKeyResponse (DESIGN behaviours 5
 * and 12). Valid responses of every shape are accepted, canonical-JSON-stable, with signatures
 * that verify; mutated ones (flipped bits, repeated members, extra members, float timestamps,
 * wrong names, too many keys, bad signatures) are refused with a reason, and a mutation is only
 * ever accepted when it left every signed byte as it was.
 */
import fc from 'fast-check';
import {
  CanonicalJsonError,
  checkSelfSignedKeyResponse,
  compareCodePoints,
  countersignedCopy,
  decodeBase64,
  DuplicateMemberError,
  encodeBase64,
  encodeCanonicalJson,
  EXPIRED_TS_SKEW_MS,
  MAX_OLD_VERIFY_KEYS,
  MAX_VERIFY_KEYS,
  parseStrictJson,
  signDetached,
  signedBytes,
  signJson,
  validateOriginKeyResponse,
  verifyJsonSignature,
  type JsonObject,
  type JsonValue,
  type OriginPolicy,
} from '@matrix-notary/protocol';
import { canonicalSpelling, host, port, validKeyId, withCases } from './arbitraries';
import { HOUR_MS, NOW_MS, testKeyPair } from './fixtures';

const POOL = Array.from({ length: 6 }, (_, i) => testKeyPair(40 + i));
const NOTARY = testKeyPair(60);
const YEAR_MS = 365 * 24 * HOUR_MS;
const policyFor = (serverName: string, minValidityMs = HOUR_MS): OriginPolicy => ({ serverName, nowMs: NOW_MS, minValidityMs });

/** The refusal reasons of the whole check: the parser's (as the worker names them) and the validator's. */
const REASONS = [
  'not_json',
  'not_canonical_json',
  'malformed',
  'not_an_object',
  'bad_server_name',
  'bad_valid_until_ts',
  'malformed_verify_key',
  'banned_key',
  'no_valid_signature',
  'bad_signature',
  'wrong_server_name',
  'expires_too_soon',
];

type Verdict = { ok: true; response: JsonObject; keyIds: string[]; keys: Array<{ keyId: string; kind: string; expiredTs?: number }> } | { ok: false; reason: string; message: string };

/** What a worker does with an origin's body (packages/worker/src/refresh-origin.ts), or with a value already parsed. */
function check(input: Buffer | string | unknown, policy: OriginPolicy): Verdict {
  let value: unknown = input;
  if (Buffer.isBuffer(input) || typeof input === 'string') {
    try {
      value = parseStrictJson(Buffer.isBuffer(input) ? input.toString('utf8') : input);
    } catch (err) {
      if (err instanceof DuplicateMemberError) return { ok: false, reason: 'malformed', message: err.message };
      if (err instanceof CanonicalJsonError) return { ok: false, reason: 'not_canonical_json', message: err.message };
      if (err instanceof SyntaxError) return { ok: false, reason: 'not_json', message: err.message };
      throw err;
    }
  }
  const result = validateOriginKeyResponse(value, policy);
  if (!result.ok) return result;
  return { ok: true, response: result.response as unknown as JsonObject, keyIds: result.keyIds, keys: result.keys };
}

function expectRefused(v: Verdict, reasons: string[]): void {
  if (v.ok) throw new Error(`accepted, expected a refusal (${reasons.join(' or ')})`);
  expect(reasons).toContain(v.reason);
  expect(v.message.length).toBeGreaterThan(0);
}

/** Every signature by the response's own server with a key of its verify_keys verifies. */
function expectOwnSignaturesVerify(response: JsonObject): void {
  const serverName = response.server_name as string;
  const own = (response.signatures as Record<string, Record<string, string>>)[serverName];
  const verifyKeys = response.verify_keys as Record<string, { key: string }>;
  let checked = 0;
  for (const keyId of Object.keys(own)) {
    if (!keyId.startsWith('ed25519:') || verifyKeys[keyId] === undefined) continue;
    expect(verifyJsonSignature(response, serverName, keyId, decodeBase64(verifyKeys[keyId].key))).toBe(true);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
}

// ---------------------------------------------------------------------------------------------
// Valid responses

const RESERVED = new Set(['server_name', 'valid_until_ts', 'verify_keys', 'old_verify_keys', 'signatures', 'unsigned']);

const { json } = fc.letrec<{ json: JsonValue }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }).filter((n) => !Object.is(n, -0)),
    fc.string({ unit: 'binary', maxLength: 8 }),
    fc.array(tie('json'), { maxLength: 3 }),
    fc.dictionary(fc.string({ maxLength: 6 }), tie('json'), { maxKeys: 3 }),
  ),
}));

const fieldName = fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !RESERVED.has(k));
const keyBody = fc.uint8Array({ minLength: 32, maxLength: 32 }).map(encodeBase64);
const timestamp = fc.oneof(
  fc.integer({ min: 0, max: NOW_MS + 10 * YEAR_MS }),
  fc.integer({ min: NOW_MS - EXPIRED_TS_SKEW_MS, max: NOW_MS + 2 * EXPIRED_TS_SKEW_MS }),
);

interface Spec {
  serverName: string;
  validUntilTs: number;
  active: Array<{ id: string; pool: number; extra: Record<string, JsonValue> }>;
  /** Keys of algorithms other than ed25519: any string will do. */
  other: Array<{ id: string; key: string }>;
  old: Array<{ id: string; key: string; expiredTs: number }>;
  /** Indexes into `active` of the keys that sign. */
  signers: number[];
  extra: Record<string, JsonValue>;
  unsigned?: JsonValue;
  thirdParty: Record<string, Record<string, string>>;
  /** A garbage signature by a key ID the response does not list (ignored by the check). */
  unlistedSignature: boolean;
}

const spec: fc.Arbitrary<Spec> = fc
  .record({
    serverName: fc.tuple(host, fc.option(port, { nil: undefined })).map(([h, p]) => canonicalSpelling(h, p)),
    validUntilTs: fc.integer({ min: NOW_MS + HOUR_MS, max: NOW_MS + 10 * YEAR_MS }),
    active: fc.uniqueArray(
      fc.record({
        id: validKeyId.filter((k) => k.startsWith('ed25519:')),
        pool: fc.nat(POOL.length - 1),
        extra: fc.dictionary(fieldName.filter((k) => k !== 'key'), json, { maxKeys: 2 }),
      }),
      { selector: (k) => k.id, minLength: 1, maxLength: 4 },
    ),
    other: fc.uniqueArray(fc.record({ id: validKeyId.filter((k) => !k.startsWith('ed25519:')), key: fc.string({ maxLength: 10 }) }), { selector: (k) => k.id, maxLength: 2 }),
    old: fc.uniqueArray(fc.record({ id: validKeyId, key: keyBody, expiredTs: timestamp }), { selector: (k) => k.id, maxLength: 4 }),
    shared: fc.array(fc.tuple(fc.nat(), timestamp), { maxLength: 2 }),
    signers: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    extra: fc.dictionary(fieldName, json, { maxKeys: 3 }),
    unsigned: fc.option(json, { nil: undefined }),
    thirdParty: fc.dictionary(fc.constantFrom('third.example', 'other.example:8448', '[2001:db8::1]'), fc.dictionary(validKeyId, fc.string({ maxLength: 12 }), { maxKeys: 2 }), {
      maxKeys: 2,
    }),
    unlistedSignature: fc.boolean(),
  })
  .map((r): Spec => {
    const activeIds = new Set(r.active.map((k) => k.id));
    const otherIds = new Set(r.other.map((k) => k.id));
    // Old keys under IDs of their own, and some active keys also retired under the same ID and body (allowed).
    const old = r.old.filter((k) => !activeIds.has(k.id) && !otherIds.has(k.id));
    for (const [i, expiredTs] of r.shared) {
      const a = r.active[i % r.active.length];
      if (!old.some((k) => k.id === a.id)) old.push({ id: a.id, key: encodeBase64(POOL[a.pool].publicKey), expiredTs });
    }
    const signers = [...new Set(r.signers.map((i) => i % r.active.length))];
    const thirdParty = Object.fromEntries(Object.entries(r.thirdParty).filter(([name]) => name !== r.serverName));
    return { ...r, old, signers, thirdParty };
  });

/** The response as the origin would sign it, before any signature. */
function unsignedBody(s: Spec): JsonObject {
  const verifyKeys: JsonObject = {};
  for (const k of s.active) verifyKeys[k.id] = { ...k.extra, key: encodeBase64(POOL[k.pool].publicKey) };
  for (const k of s.other) verifyKeys[k.id] = { key: k.key };
  const oldKeys: JsonObject = {};
  for (const k of s.old) oldKeys[k.id] = { key: k.key, expired_ts: k.expiredTs };
  return { ...s.extra, server_name: s.serverName, valid_until_ts: s.validUntilTs, verify_keys: verifyKeys, old_verify_keys: oldKeys };
}

/** Signs `body` as `s` says (its own keys, then others' signatures and the unsigned part added). */
function signAs(s: Spec, body: JsonObject, serverName = s.serverName): JsonObject {
  let signed: JsonObject = body;
  for (const i of s.signers) signed = signJson(signed, serverName, s.active[i].id, POOL[s.active[i].pool].secretKey) as JsonObject;
  const signatures = { ...(signed.signatures as JsonObject), ...s.thirdParty } as Record<string, JsonObject>;
  if (s.unlistedSignature) signatures[serverName] = { ...signatures[serverName], 'ed25519:not_listed': 'bm90IGEgc2lnbmF0dXJl' };
  const out: JsonObject = { ...signed, signatures };
  if (s.unsigned !== undefined) out.unsigned = s.unsigned;
  return out;
}

const build = (s: Spec) => signAs(s, unsignedBody(s));

const VALID_RUNS = 400;
test(withCases('valid responses of every shape are accepted, canonical-JSON-stable, with verifying signatures, each key judged by the expiry rule; the countersigned copy passes again', VALID_RUNS), () => {
  fc.assert(
    fc.property(spec, (s) => {
      const text = encodeCanonicalJson(build(s));
      const v = check(Buffer.from(text), policyFor(s.serverName));
      if (!v.ok) throw new Error(`refused: ${v.reason}: ${v.message}`);
      expect(encodeCanonicalJson(v.response)).toBe(text);
      expectOwnSignaturesVerify(v.response);
      const activeIds = [...s.active.map((k) => k.id), ...s.other.map((k) => k.id)];
      expect([...v.keyIds].sort()).toEqual([...new Set([...activeIds, ...s.old.map((k) => k.id)])].sort());
      for (const k of v.keys) {
        const old = s.old.find((o) => o.id === k.keyId);
        const usable = old !== undefined && old.expiredTs <= NOW_MS + EXPIRED_TS_SKEW_MS;
        expect(k.kind).toBe(activeIds.includes(k.keyId) ? 'active' : usable ? 'retired' : 'unusable');
        expect(k.expiredTs).toBe(usable ? old.expiredTs : undefined);
      }
      // The signer's check agrees, and the notary's countersigned copy is accepted in turn.
      expect(checkSelfSignedKeyResponse(v.response).ok).toBe(true);
      const copy = countersignedCopy(v.response as never, 'notary.example', [
        { keyId: 'ed25519:n', sign: (b: Buffer) => encodeBase64(signDetached(b, NOTARY.secretKey)) },
      ]);
      const again = check(copy, policyFor(s.serverName));
      expect(again.ok).toBe(true);
      if (again.ok) {
        expect(signedBytes(again.response).toString()).toBe(signedBytes(v.response).toString());
        expect(verifyJsonSignature(again.response, 'notary.example', 'ed25519:n', NOTARY.publicKey)).toBe(true);
      }
    }),
    { numRuns: VALID_RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// Flipped bits

const FLIP_RUNS = 1500;
test(withCases('flipped bits anywhere in a valid response: refused with a reason, or accepted only when every signed byte is unchanged and the signatures still verify', FLIP_RUNS), () => {
  fc.assert(
    fc.property(spec, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 3 }), (s, flips) => {
      const original = build(s);
      const bytes = Buffer.from(encodeCanonicalJson(original));
      for (const [at, bit] of flips) bytes[at % bytes.length] ^= 1 << bit;
      const v = check(bytes, policyFor(s.serverName));
      if (!v.ok) {
        expect(REASONS).toContain(v.reason);
        expect(v.message.length).toBeGreaterThan(0);
        return;
      }
      // Only what no signature covers may have changed: other servers' signatures, signatures by
      // key IDs the response does not list, `unsigned`.
      expect(signedBytes(v.response).toString()).toBe(signedBytes(original).toString());
      expectOwnSignaturesVerify(v.response);
    }),
    { numRuns: FLIP_RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// Targeted mutations, each with the reason it must be refused for

interface Mutation {
  name: string;
  /** The origin's bytes or an already-parsed value. */
  input: string | JsonObject;
  policy: OriginPolicy;
  reasons: string[];
}

/** Paths of the objects of `v` (not arrays), in document order, with their member counts. */
function objectPaths(v: JsonValue, path: string[] = [], out: Array<{ path: string[]; size: number }> = []) {
  if (v !== null && typeof v === 'object') {
    if (Array.isArray(v)) v.forEach((x, i) => objectPaths(x, [...path, String(i)], out));
    else {
      out.push({ path, size: Object.keys(v).length });
      for (const [k, x] of Object.entries(v)) objectPaths(x, [...path, k], out);
    }
  }
  return out;
}

/** Canonical JSON of `v`, except that the object at `target` writes its first member twice (the second time with `value`). */
function writeRepeating(v: JsonValue, target: string, value: JsonValue, path: string[] = []): string {
  if (v === null || typeof v !== 'object') return encodeCanonicalJson(v);
  if (Array.isArray(v)) return `[${v.map((x, i) => writeRepeating(x, target, value, [...path, String(i)])).join(',')}]`;
  const keys = Object.keys(v).sort(compareCodePoints);
  const members = keys.map((k) => `${JSON.stringify(k)}:${writeRepeating(v[k], target, value, [...path, k])}`);
  if (JSON.stringify(path) === target && keys.length > 0) members.splice(1, 0, `${JSON.stringify(keys[0])}:${encodeCanonicalJson(value)}`);
  return `{${members.join(',')}}`;
}

/** Start and end of every number token of canonical JSON text (outside strings). */
function numberTokens(text: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 0; i < text.length; ) {
    if (text[i] === '"') {
      i++;
      while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (/[-0-9]/.test(text[i])) {
      let j = i + 1;
      while (j < text.length && /[0-9]/.test(text[j])) j++;
      out.push([i, j]);
      i = j;
    } else i++;
  }
  return out;
}

function getAt(v: JsonValue, path: string[]): JsonObject {
  return path.reduce((o, k) => (o as JsonObject)[k], v) as JsonObject;
}

const signedParts = (p: string[]) => p[0] !== 'signatures' && p[0] !== 'unsigned';

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  // A member name repeated, in any object at any depth (MSC4499: malformed).
  fc.tuple(spec, fc.nat(), json).map(([s, pick, value]): Mutation => {
    const r = build(s);
    const objects = objectPaths(r).filter((o) => o.size > 0);
    const target = objects[pick % objects.length].path;
    return { name: `repeated member in ${target.join('.') || 'the top level'}`, input: writeRepeating(r, JSON.stringify(target), value), policy: policyFor(s.serverName), reasons: ['malformed'] };
  }),
  // A member added after signing, in any signed object.
  fc.tuple(spec, fc.nat(), fc.string({ unit: fc.constantFrom(...'abcxyz_'.split('')), minLength: 1, maxLength: 6 }), json).map(([s, pick, name, value]): Mutation => {
    const r = build(s);
    const objects = objectPaths(r).filter((o) => signedParts(o.path));
    const target = objects[pick % objects.length].path;
    const parent = getAt(r, target);
    const key = `x_${name}`;
    parent[key] = value;
    const inKeyMap = target.length === 1 && (target[0] === 'verify_keys' || target[0] === 'old_verify_keys');
    return { name: `extra member in ${target.join('.') || 'the top level'}`, input: encodeCanonicalJson(r), policy: policyFor(s.serverName), reasons: [inKeyMap ? 'malformed_verify_key' : 'bad_signature'] };
  }),
  // A number written as JSON allows but canonical JSON does not (1.0, 1e0, 1.5): any number, timestamps included.
  fc.tuple(spec, fc.nat(), fc.constantFrom('.0', 'e0', 'E+0', '.5', '.000001')).map(([s, pick, suffix]): Mutation => {
    const text = encodeCanonicalJson(build(s));
    const tokens = numberTokens(text);
    const [, end] = tokens[pick % tokens.length];
    return { name: `number written with ${suffix}`, input: text.slice(0, end) + suffix + text.slice(end), policy: policyFor(s.serverName), reasons: ['not_canonical_json'] };
  }),
  // Float timestamps as a caller's parsed value (no text to refuse): the validator's own type checks.
  fc.tuple(spec, fc.double({ noInteger: true, noNaN: true, min: 0, max: 1e15 })).map(([s, f]): Mutation => {
    const r = build(s);
    r.valid_until_ts = f;
    return { name: 'float valid_until_ts', input: r, policy: policyFor(s.serverName), reasons: ['bad_valid_until_ts'] };
  }),
  fc
    .tuple(spec, keyBody, fc.constantFrom<JsonValue>(0.5, -1, 2 ** 60, '5', null))
    .map(([s, key, ts]): Mutation => {
      const r = build(s);
      (r.old_verify_keys as JsonObject)['ed25519:float_expiry'] = { key, expired_ts: ts };
      return { name: 'bad expired_ts', input: r, policy: policyFor(s.serverName), reasons: ['malformed_verify_key'] };
    }),
  // Wrong names: another server asked, a name that is not a string, a differently written name signed anew.
  fc.tuple(spec, host, fc.option(port, { nil: undefined })).map(([s, h, p]): Mutation => {
    const asked = canonicalSpelling(h, p);
    return { name: 'another server asked', input: encodeCanonicalJson(build(s)), policy: policyFor(asked === s.serverName ? `x${asked}` : asked), reasons: ['wrong_server_name'] };
  }),
  fc.tuple(spec, fc.constantFrom<JsonValue>(null, 42, [], {}, true)).map(([s, name]): Mutation => {
    const r = build(s);
    r.server_name = name;
    return { name: 'server_name not a string', input: r, policy: policyFor(s.serverName), reasons: ['bad_server_name'] };
  }),
  spec.map((s): Mutation => {
    const respelt = /^[a-z]/.test(s.serverName) ? s.serverName.toUpperCase() : `${s.serverName.replace(/:\d+$/, '')}:08448`;
    return { name: 'the name spelt differently, signed', input: encodeCanonicalJson(signAs({ ...s, serverName: respelt }, { ...unsignedBody(s), server_name: respelt }, respelt)), policy: policyFor(s.serverName), reasons: ['wrong_server_name'] };
  }),
  // Signatures: garbage in place of a real one, none at all, or only by key IDs not listed.
  fc.tuple(spec, fc.oneof(fc.uint8Array({ minLength: 64, maxLength: 64 }).map(encodeBase64), fc.string({ maxLength: 90 }), fc.constant<JsonValue>(7))).map(([s, garbage]): Mutation => {
    const r = build(s);
    const own = (r.signatures as Record<string, JsonObject>)[s.serverName];
    own[s.active[s.signers[0]].id] = garbage;
    return { name: 'a signature replaced', input: r, policy: policyFor(s.serverName), reasons: ['bad_signature'] };
  }),
  spec.map((s): Mutation => {
    const r = build(s);
    const signatures = r.signatures as Record<string, JsonObject>;
    signatures[s.serverName] = { 'ed25519:not_listed': Object.values(signatures[s.serverName])[0] };
    return { name: 'only signatures by unlisted keys', input: r, policy: policyFor(s.serverName), reasons: ['no_valid_signature'] };
  }),
  // Keys: a signing key's body swapped after signing, or not 32 bytes.
  fc.tuple(spec, fc.nat(POOL.length - 1), fc.uint8Array({ minLength: 0, maxLength: 40 })).map(([s, other, raw]): Mutation => {
    const r = build(s);
    const signer = s.active[s.signers[0]];
    const wrongLength = raw.length !== 32;
    const key = wrongLength ? encodeBase64(raw) : encodeBase64(POOL[other === signer.pool ? (other + 1) % POOL.length : other].publicKey);
    (r.verify_keys as Record<string, JsonObject>)[signer.id].key = key;
    return { name: wrongLength ? 'a key of the wrong length' : 'a key swapped', input: r, policy: policyFor(s.serverName), reasons: [wrongLength ? 'malformed_verify_key' : 'bad_signature'] };
  }),
  // MSC4499: one key ID with two bodies, however validly signed.
  fc.tuple(spec, fc.nat(), keyBody, timestamp).map(([s, pick, body, expiredTs]): Mutation => {
    const a = s.active[pick % s.active.length];
    const differs = body !== encodeBase64(POOL[a.pool].publicKey);
    const withTwo: Spec = { ...s, old: [...s.old.filter((k) => k.id !== a.id), { id: a.id, key: body, expiredTs }] };
    return { name: 'one key ID, two bodies', input: encodeCanonicalJson(build(withTwo)), policy: policyFor(s.serverName), reasons: differs ? ['malformed'] : ['ok'] };
  }),
  // Valid for less than the minimum (or long expired), validly signed; accepted when the minimum is 0.
  fc.tuple(spec, fc.integer({ min: 0, max: NOW_MS + HOUR_MS - 1 }), fc.boolean()).map(([s, validUntilTs, noMinimum]): Mutation => ({
    name: 'expires too soon',
    input: encodeCanonicalJson(build({ ...s, validUntilTs })),
    policy: policyFor(s.serverName, noMinimum ? 0 : HOUR_MS),
    reasons: [noMinimum ? 'ok' : 'expires_too_soon'],
  })),
);

const MUTATION_RUNS = 1500;
test(withCases('targeted mutations (repeated and extra members, float numbers and timestamps, wrong names, bad signatures and keys, two bodies, short validity) are refused for their reason', MUTATION_RUNS), () => {
  fc.assert(
    fc.property(mutation, (m) => {
      const v = check(m.input, m.policy);
      if (m.reasons.includes('ok')) {
        expect(v).toMatchObject({ ok: true });
        if (v.ok) expectOwnSignaturesVerify(v.response);
        return;
      }
      expectRefused(v, m.reasons);
    }),
    { numRuns: MUTATION_RUNS },
  );
});

const UNSIGNED_RUNS = 400;
test(withCases('changes where no signature reaches (unsigned, other servers\' signatures) leave a valid response accepted', UNSIGNED_RUNS), () => {
  fc.assert(
    fc.property(spec, json, fc.constantFrom('third.example', 'other.example:8448'), fc.string({ maxLength: 20 }), (s, unsigned, third, sig) => {
      const r = build(s);
      r.unsigned = unsigned;
      if (third !== s.serverName) (r.signatures as JsonObject)[third] = { 'ed25519:z': sig };
      const v = check(encodeCanonicalJson(r), policyFor(s.serverName));
      expect(v.ok).toBe(true);
    }),
    { numRuns: UNSIGNED_RUNS },
  );
});

const CEILING_RUNS = 40;
test(withCases(`the MSC4499 ceilings: up to ${MAX_VERIFY_KEYS} verify_keys and ${MAX_OLD_VERIFY_KEYS} old_verify_keys pass, one more is malformed, however signed`, CEILING_RUNS), () => {
  fc.assert(
    fc.property(
      spec,
      fc.constantFrom(MAX_VERIFY_KEYS - 1, MAX_VERIFY_KEYS, MAX_VERIFY_KEYS + 1, MAX_VERIFY_KEYS + 5),
      fc.constantFrom(0, MAX_OLD_VERIFY_KEYS, MAX_OLD_VERIFY_KEYS + 1),
      (s, activeCount, oldCount) => {
        const active = Array.from({ length: activeCount }, (_, i) => s.active[i] ?? { id: `ed25519:v${i}`, pool: i % POOL.length, extra: {} });
        const old = Array.from({ length: oldCount }, (_, i) => ({ id: `ed25519:o${i}`, key: encodeBase64(POOL[i % POOL.length].publicKey), expiredTs: i }));
        const total: Spec = { ...s, active, other: [], old };
        const v = check(encodeCanonicalJson(build(total)), policyFor(s.serverName));
        if (activeCount <= MAX_VERIFY_KEYS && oldCount <= MAX_OLD_VERIFY_KEYS) expect(v.ok).toBe(true);
        else expectRefused(v, ['malformed']);
      },
    ),
    { numRuns: CEILING_RUNS },
  );
});
