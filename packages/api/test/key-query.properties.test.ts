/**
 * Generated key queries (fast-check) against the pure parsers of the api: whatever a stranger
 * sends, the result is a valid query within the limits or a MatrixError with a 4xx status, never
 * another exception; queries built to be valid parse to exactly what they ask.
 */
import fc from 'fast-check';
import { MatrixError } from '@matrix-notary/common';
import { isValidKeyId, nonCanonicalServerNameReason } from '@matrix-notary/protocol';
import { KeyQueryParser, type QueryLimits, type ServerKeyQuery } from '../src/key-query';
import {
  anyServerName,
  invalidKeyId,
  nonIntegerText,
  percentEncodeSome,
  QUERY_SAFE,
  safeInteger,
  unreachableServerName,
  validKeyId,
  withCases,
} from '../../protocol/test/arbitraries';

const now = fc.integer({ min: 0, max: 4_000_000_000_000 });

/** One parser for every GET case, as one request handler parses every request: its caches carry over. */
const getParser = new KeyQueryParser({ maxServersPerQuery: 1, maxKeysPerServer: 1 });
const parseGetQuery = (rest: string, search: string, nowMs: number) => getParser.getQuery(rest, search, nowMs);
/** A POST body parsed under the given limits: one parser per set of limits, as a handler has one for its own. */
const postParsers = new Map<string, KeyQueryParser>();
function parsePostQuery(body: unknown, limits: QueryLimits, nowMs: number): ServerKeyQuery[] {
  const key = `${limits.maxServersPerQuery}/${limits.maxKeysPerServer}`;
  let parser = postParsers.get(key);
  if (parser === undefined) postParsers.set(key, (parser = new KeyQueryParser(limits)));
  return parser.postQuery(body, nowMs);
}

/** The outcome of a parse: the queries, or the MatrixError's status and errcode. Any other exception fails the test. */
function outcome<T>(parse: () => T): { ok: true; value: T } | { ok: false; status: number; errcode: string } {
  try {
    return { ok: true, value: parse() };
  } catch (err) {
    if (!(err instanceof MatrixError)) throw err;
    expect(err.status >= 400 && err.status < 500).toBe(true);
    expect(err.message.length).toBeGreaterThan(0);
    return { ok: false, status: err.status, errcode: err.errcode };
  }
}

function expectValidQuery(q: ServerKeyQuery, limits?: QueryLimits): void {
  expect(nonCanonicalServerNameReason(q.serverName)).toBeNull();
  expect(q.keyIds.every((k) => isValidKeyId(k))).toBe(true);
  expect(new Set(q.keyIds).size).toBe(q.keyIds.length);
  if (limits) expect(q.keyIds.length).toBeLessThanOrEqual(limits.maxKeysPerServer);
  expect(Number.isSafeInteger(q.minValidUntilTs)).toBe(true);
}

const accepted = (name: string) => nonCanonicalServerNameReason(name) === null;

// ---------------------------------------------------------------------------------------------
// GET /_matrix/key/v2/query/{serverName}[/{keyId}[/{minimum_valid_until_ts}]][?minimum_valid_until_ts=]

/** A timestamp as text: a plain integer, or anything else. */
const tsText = fc.oneof(
  { weight: 2, arbitrary: safeInteger.map((n) => ({ text: String(n), value: n as number | undefined })) },
  { weight: 1, arbitrary: nonIntegerText.map((text) => ({ text, value: undefined as number | undefined })) },
);

interface GetCase {
  rest: string;
  search: string;
  name: string;
  keyId?: { id: string; valid: boolean };
  pathTs?: { text: string; value?: number };
  queryTs: Array<{ text: string; value?: number }>;
  extraSegments: number;
}

const structuredGet: fc.Arbitrary<GetCase> = fc
  .record({
    name: fc.oneof(unreachableServerName, anyServerName),
    keyId: fc.option(fc.oneof(validKeyId.map((id) => ({ id, valid: true })), invalidKeyId.filter((id) => id !== '').map((id) => ({ id, valid: false }))), { nil: undefined }),
    // An empty timestamp segment is no timestamp (as `/query/{name}/` is no key ID).
    pathTs: fc.option(tsText.filter((t) => t.text !== ''), { nil: undefined }),
    queryTs: fc.array(tsText, { maxLength: 2 }),
    otherParams: fc.array(fc.tuple(fc.constantFrom('a', 'minimum_valid', 'x y', '%zz'), fc.string({ maxLength: 4 })), { maxLength: 2 }),
    extraSegments: fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 }) }),
    trailingSlash: fc.boolean(),
  })
  .chain((c) =>
    fc
      .tuple(
        percentEncodeSome(c.name),
        c.keyId === undefined ? fc.constant('') : percentEncodeSome(c.keyId.id),
        c.pathTs === undefined ? fc.constant('') : percentEncodeSome(c.pathTs.text),
        fc.tuple(...c.queryTs.map((t) => percentEncodeSome(t.text, QUERY_SAFE))),
      )
      .map(([name, keyId, ts, queryTexts]): GetCase => {
        let segments = [name];
        // A timestamp in the path needs a key ID before it; without one, the key ID segment is empty.
        if (c.keyId !== undefined || c.pathTs !== undefined) segments.push(keyId);
        if (c.pathTs !== undefined) segments.push(ts);
        segments = segments.concat(Array.from({ length: c.extraSegments }, () => 'x'));
        const params = [
          ...queryTexts.map((t) => `minimum_valid_until_ts=${t}`),
          ...c.otherParams.map(([k, v]) => `${k}=${encodeURIComponent(v)}`),
        ];
        return {
          rest: segments.join('/') + (c.trailingSlash && segments.length < 3 ? '/' : ''),
          search: params.join('&'),
          name: c.name,
          keyId: c.keyId,
          pathTs: c.pathTs,
          queryTs: c.queryTs,
          extraSegments: c.extraSegments,
        };
      }),
  );

/** Reference: a timestamp text that must be accepted (a plain integer), refused (not digits) or may go either way. */
function tsVerdict(t: { text: string; value?: number }): 'accept' | 'refuse' | 'either' {
  if (t.value !== undefined) return 'accept';
  return /^-?[0-9]+$/.test(t.text) ? 'either' : 'refuse';
}

const GET_STRUCTURED_RUNS = 2500;
test(withCases('GET query paths built from names, key IDs and timestamps of every kind parse to exactly what they ask, or to 400 M_INVALID_PARAM', GET_STRUCTURED_RUNS), () => {
  fc.assert(
    fc.property(structuredGet, now, now, (c, now1, now2) => {
      const first = outcome(() => parseGetQuery(c.rest, c.search, now1));
      const verdicts = [c.pathTs, ...c.queryTs].filter((t) => t !== undefined).map(tsVerdict);
      const mustRefuse =
        c.extraSegments > 0 || !accepted(c.name) || c.keyId?.valid === false || c.queryTs.length > 1 || verdicts.includes('refuse');
      if (!first.ok) {
        expect([first.status, first.errcode]).toEqual([400, 'M_INVALID_PARAM']);
        expect(mustRefuse || verdicts.includes('either')).toBe(true);
        return;
      }
      expect(mustRefuse).toBe(false);
      const q = first.value;
      expectValidQuery(q);
      expect(q.serverName).toBe(c.name);
      expect(q.keyIds).toEqual(c.keyId ? [c.keyId.id] : []);
      const given = [c.pathTs, ...c.queryTs].filter((t) => t !== undefined).map((t) => Number(t.text));
      expect(q.minValidUntilTs).toBe(given.length === 0 ? now1 : Math.max(...given));
      // A parse remembered for the next request of the same URL keeps no trace of the first one's "now".
      const second = parseGetQuery(c.rest, c.search, now2);
      expect(second.minValidUntilTs).toBe(given.length === 0 ? now2 : Math.max(...given));
    }),
    { numRuns: GET_STRUCTURED_RUNS },
  );
});

const GET_ANY_RUNS = 1500;
test(withCases('GET query paths of any text: a valid query or 400 M_INVALID_PARAM, nothing else', GET_ANY_RUNS), () => {
  const segment = fc.oneof(fc.string({ maxLength: 12 }), fc.string({ unit: fc.constantFrom(...'%2F5BDa.:-/[]?#&=eE0189'.split('')), maxLength: 14 }), fc.constantFrom('%', '%E', '%ED%A0%80', '%C0%AF', '%00', '..', '.'));
  fc.assert(
    fc.property(fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/')), fc.oneof(fc.constant(''), fc.string({ maxLength: 20 }), segment.map((s) => `minimum_valid_until_ts=${s}`)), now, (rest, search, n) => {
      const r = outcome(() => parseGetQuery(rest, search, n));
      if (r.ok) expectValidQuery(r.value);
      else expect([r.status, r.errcode]).toEqual([400, 'M_INVALID_PARAM']);
    }),
    { numRuns: GET_ANY_RUNS },
  );
});

// ---------------------------------------------------------------------------------------------
// POST /_matrix/key/v2/query

type Defect = 'bad_name' | 'bad_key_id' | 'criterion_not_object' | 'ts_not_integer' | 'criteria_wrong_type' | 'legacy_not_string';

const DEFECT_ERRCODE: Record<Defect, string> = {
  bad_name: 'M_INVALID_PARAM',
  bad_key_id: 'M_INVALID_PARAM',
  criterion_not_object: 'M_BAD_JSON',
  ts_not_integer: 'M_BAD_JSON',
  criteria_wrong_type: 'M_BAD_JSON',
  legacy_not_string: 'M_BAD_JSON',
};

interface ServerAsk {
  name: string;
  form: 'spec' | 'legacy';
  keys: Array<{ id: string; ts?: number }>;
}

interface PostCase {
  limits: QueryLimits;
  servers: ServerAsk[];
  defect?: { at: number; kind: Defect; value: unknown };
}

const limitsArb = fc.record({ maxServersPerQuery: fc.integer({ min: 1, max: 6 }), maxKeysPerServer: fc.integer({ min: 1, max: 4 }) });

const serverAsk: fc.Arbitrary<ServerAsk> = fc.record({
  name: unreachableServerName,
  form: fc.constantFrom<'spec' | 'legacy'>('spec', 'spec', 'legacy'),
  keys: fc.array(fc.record({ id: validKeyId, ts: fc.option(safeInteger, { nil: undefined }) }), { maxLength: 6 }),
});

/** A value that is not an integer JSON would write as one. */
const notAnInteger = fc.oneof(
  fc.double().filter((d) => !Number.isSafeInteger(d)),
  fc.constantFrom<unknown>('5', null, true, [], {}, 2 ** 60, -(2 ** 60), 1.5, 0.1),
);

const postCase: fc.Arbitrary<PostCase> = fc
  .record({
    limits: limitsArb,
    servers: fc.uniqueArray(serverAsk, { selector: (s) => s.name, maxLength: 8 }),
    defect: fc.option(fc.tuple(fc.nat(), fc.constantFrom<Defect>('bad_name', 'bad_key_id', 'criterion_not_object', 'ts_not_integer', 'criteria_wrong_type', 'legacy_not_string')), {
      freq: 2,
      nil: undefined,
    }),
  })
  .chain(({ limits, servers, defect }) => {
    if (defect === undefined || servers.length === 0) return fc.constant<PostCase>({ limits, servers });
    const [at, kind] = defect;
    const value: fc.Arbitrary<unknown> =
      kind === 'bad_name'
        ? anyServerName.filter((n) => !accepted(n) && !servers.some((s) => s.name === n))
        : kind === 'bad_key_id'
          ? invalidKeyId
          : kind === 'criteria_wrong_type'
            ? fc.constantFrom<unknown>('all', 5, null, true)
            : kind === 'legacy_not_string'
              ? fc.constantFrom<unknown>(1, null, {}, [], true)
              : kind === 'criterion_not_object'
                ? fc.constantFrom<unknown>(5, 'x', null, [], true)
                : notAnInteger;
    return value.map((v): PostCase => ({ limits, servers, defect: { at: at % servers.length, kind, value: v } }));
  });

/** The body of a case, built with own properties only (JSON.parse makes `__proto__` an own key, and so does this). */
function bodyOf(c: PostCase): unknown {
  const entries = c.servers.map((s, i): [string, unknown] => {
    const d = c.defect?.at === i ? c.defect : undefined;
    const name = d?.kind === 'bad_name' ? (d.value as string) : s.name;
    if (d?.kind === 'criteria_wrong_type') return [name, d.value];
    const keys = [...s.keys];
    if (d?.kind === 'bad_key_id') keys.push({ id: d.value as string });
    if (s.form === 'legacy' && d?.kind !== 'criterion_not_object' && d?.kind !== 'ts_not_integer') {
      const list: unknown[] = keys.map((k) => k.id);
      if (d?.kind === 'legacy_not_string') list.push(d.value);
      return [name, list];
    }
    const criteria = Object.fromEntries(
      keys.map((k, j): [string, unknown] => {
        if (d?.kind === 'criterion_not_object' && j === 0) return [k.id, d.value];
        if (d?.kind === 'ts_not_integer' && j === 0) return [k.id, { minimum_valid_until_ts: d.value }];
        return [k.id, k.ts === undefined ? {} : { minimum_valid_until_ts: k.ts }];
      }),
    );
    if ((d?.kind === 'criterion_not_object' || d?.kind === 'ts_not_integer') && keys.length === 0) {
      criteria['ed25519:x'] = d.kind === 'criterion_not_object' ? d.value : { minimum_valid_until_ts: d.value };
    }
    if (d?.kind === 'legacy_not_string') criteria['ed25519:y'] = {}; // a spec-form server cannot carry this defect: count it as a key
    return [name, criteria];
  });
  return { server_keys: Object.fromEntries(entries) };
}

const POST_STRUCTURED_RUNS = 2500;
test(withCases('POST bodies of valid and defective servers within and over the limits: exactly the queries asked, or the 4xx their defects call for', POST_STRUCTURED_RUNS), () => {
  fc.assert(
    fc.property(postCase, now, (c, n) => {
      const body = bodyOf(c);
      const serverKeys = (body as { server_keys: Record<string, unknown> }).server_keys;
      const r = outcome(() => parsePostQuery(body, c.limits, n));
      // What the body holds that calls for an error: too many servers, too many keys, the defect.
      const possible = new Set<string>();
      if (Object.keys(serverKeys).length > c.limits.maxServersPerQuery) possible.add('413 M_TOO_LARGE');
      for (const criteria of Object.values(serverKeys)) {
        const count = Array.isArray(criteria) ? criteria.length : criteria && typeof criteria === 'object' ? Object.keys(criteria).length : 0;
        if (count > c.limits.maxKeysPerServer) possible.add('413 M_TOO_LARGE');
      }
      const realDefect = c.defect !== undefined && !(c.defect.kind === 'legacy_not_string' && c.servers[c.defect.at].form === 'spec');
      if (realDefect) possible.add(`400 ${DEFECT_ERRCODE[c.defect!.kind]}`);
      if (!r.ok) {
        expect(possible).toContain(`${r.status} ${r.errcode}`);
        // Too many servers is judged before anything else in the body.
        if (Object.keys(serverKeys).length > c.limits.maxServersPerQuery) expect(r.status).toBe(413);
        return;
      }
      expect(possible.size).toBe(0);
      expect(r.value.length).toBeLessThanOrEqual(c.limits.maxServersPerQuery);
      r.value.forEach((q) => expectValidQuery(q, c.limits));
      const expected = Object.entries(serverKeys).map(([name, criteria]): ServerKeyQuery => {
        if (Array.isArray(criteria)) return { serverName: name, keyIds: [...new Set(criteria as string[])], minValidUntilTs: n };
        const asked = Object.entries(criteria as Record<string, { minimum_valid_until_ts?: number }>);
        return {
          serverName: name,
          keyIds: asked.map(([id]) => id),
          minValidUntilTs: asked.length === 0 ? n : Math.max(...asked.map(([, k]) => k.minimum_valid_until_ts ?? n)),
        };
      });
      expect(r.value).toEqual(expected);
    }),
    { numRuns: POST_STRUCTURED_RUNS },
  );
});

const POST_ANY_RUNS = 1500;
test(withCases('POST bodies of any JSON shape: valid queries within the limits, or 400 M_BAD_JSON / M_INVALID_PARAM or 413 M_TOO_LARGE, nothing else', POST_ANY_RUNS), () => {
  const anyBody = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.jsonValue({ maxDepth: 3 }).map((v) => ({ server_keys: v })),
    fc.dictionary(fc.oneof(anyServerName, fc.string({ maxLength: 6 })), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }).map((sk) => ({ server_keys: sk })),
    fc
      .dictionary(unreachableServerName, fc.dictionary(fc.oneof(validKeyId, fc.string({ maxLength: 5 })), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }), { maxKeys: 4 })
      .map((sk) => ({ server_keys: sk })),
  );
  fc.assert(
    fc.property(anyBody, limitsArb, now, (body, limits, n) => {
      const r = outcome(() => parsePostQuery(JSON.parse(JSON.stringify(body)), limits, n));
      if (!r.ok) {
        expect(['400 M_BAD_JSON', '400 M_INVALID_PARAM', '413 M_TOO_LARGE']).toContain(`${r.status} ${r.errcode}`);
        return;
      }
      expect(r.value.length).toBeLessThanOrEqual(limits.maxServersPerQuery);
      r.value.forEach((q) => expectValidQuery(q, limits));
    }),
    { numRuns: POST_ANY_RUNS },
  );
});
