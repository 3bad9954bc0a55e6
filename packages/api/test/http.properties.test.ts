/**
 * Generated HTTP requests (fast-check) against a real api on the test Redis: key queries valid and
 * not, any method, path, query string, header and body under /_matrix/key/v2/, and requests the
 * HTTP parser refuses. Whatever comes, no 5xx, a Matrix error body with every 4xx, the pod keeps
 * answering, and nothing is stored from refused input: the Redis keys under the notary's prefix
 * are the same before and after, and only a valid query queues fetches, for the servers it names.
 *
 * No worker runs, so no origin is ever contacted whatever the generated names; the names built to
 * be valid are unreachable ones anyway (`.invalid`, TEST-NET, documentation IPv6 addresses). The
 * client is in NOTARY_UNLIMITED_CLIENTS, so rate limits neither interfere nor count in Redis.
 */
import fc from 'fast-check';
import Redis from 'ioredis';
import { Queue } from 'bullmq';
import { MatrixError } from '@matrix-notary/common';
import { checkJsonNumbers } from '@matrix-notary/protocol';
import { bullPrefix, refreshJobId, REFRESH_QUEUE_NAME } from '@matrix-notary/store';
import { createTestCa, testRedisUrl } from '@matrix-notary/testing';
import { KeyQueryParser } from '../src/key-query';
import { NOTARY_NAME, startNotary, type Notary } from './notary-harness';
import { exchange, type RawResponse } from './raw-http';
import { changedKeys, takeSnapshot, type RedisSnapshot } from './redis-snapshot';
import {
  anyServerName,
  invalidKeyId,
  nonCanonicalNumberText,
  nonIntegerText,
  percentEncodeSome,
  QUERY_SAFE,
  safeInteger,
  sometimes,
  unreachableServerName,
  validKeyId,
  withCases,
} from '../../protocol/test/arbitraries';

const MAX_BODY_BYTES = 16 * 1024;
const LIMITS = { maxServersPerQuery: 20, maxKeysPerServer: 4 };
/** The pure parser the handler runs, with the notary's limits. */
const parser = new KeyQueryParser(LIMITS);
const QUERY_PATH = '/_matrix/key/v2/query';
const SERVER_PATH = '/_matrix/key/v2/server';

let n: Notary;
let redis: Redis;
let queue: Queue;
let port: number;
/** Redis as the last check left it (requests in between change nothing else: no worker runs). */
let baseline: RedisSnapshot | undefined;

beforeAll(async () => {
  n = await startNotary({
    ca: await createTestCa(),
    workers: 0,
    env: {
      NOTARY_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      NOTARY_MAX_SERVERS_PER_QUERY: String(LIMITS.maxServersPerQuery),
      NOTARY_MAX_KEYS_PER_SERVER: String(LIMITS.maxKeysPerServer),
      // Nothing fetches (no worker): a query answers at once with what is stored.
      NOTARY_FETCH_WAIT_MS: '0',
      NOTARY_UNLIMITED_CLIENTS: '127.0.0.0/8',
    },
  });
  port = n.apis[0].port;
  redis = new Redis(testRedisUrl());
  // Stands in for the workers: takes the jobs a valid query queued off the queue, once checked.
  queue = new Queue(REFRESH_QUEUE_NAME, { connection: redis, prefix: bullPrefix(n.prefix) });
});

// Each property starts from a fresh reading of Redis, so one that fails leaves the next unaffected.
beforeEach(async () => {
  await queue.drain();
  baseline = undefined;
});

afterAll(async () => {
  await queue.close();
  redis.disconnect();
  await n.stop();
});

// ---------------------------------------------------------------------------------------------
// Requests

interface Request {
  method: string;
  target: string;
  version: '1.1' | '1.0';
  headers: Array<[string, string]>;
  body?: Buffer;
  /** Send the body chunked, cut at these offsets; otherwise with Content-Length. */
  chunks?: number[];
  omitHost?: boolean;
}

function serialize(r: Request): Buffer {
  const head: string[] = [`${r.method} ${r.target} HTTP/${r.version}`];
  if (!r.omitHost) head.push('Host: notary.test');
  for (const [k, v] of r.headers) head.push(`${k}: ${v}`);
  let body = r.body ?? Buffer.alloc(0);
  if (r.body !== undefined && r.chunks !== undefined) {
    head.push('Transfer-Encoding: chunked');
    const cuts = [...new Set(r.chunks.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
    const parts: Buffer[] = [];
    let from = 0;
    for (const cut of [...cuts, body.length]) {
      if (cut <= from) continue;
      parts.push(Buffer.from(`${(cut - from).toString(16)}\r\n`), body.subarray(from, cut), Buffer.from('\r\n'));
      from = cut;
    }
    parts.push(Buffer.from('0\r\n\r\n'));
    body = Buffer.concat(parts);
  } else if (r.body !== undefined) {
    head.push(`Content-Length: ${r.body.length}`);
  }
  return Buffer.concat([Buffer.from(head.join('\r\n') + '\r\n\r\n', 'latin1'), body]);
}

const contentType = fc.constantFrom<Array<[string, string]>>(
  [['Content-Type', 'application/json']],
  [['Content-Type', 'application/json']],
  [],
  [['Content-Type', 'text/plain']],
  [['Content-Type', 'application/json; charset=iso-8859-1']],
  [['Content-Type', 'multipart/form-data; boundary=x']],
  [['Content-Type', ';;;']],
  [['Content-Type', 'application/json'], ['Content-Type', 'text/html']],
);

/** Headers a client might add, odd ones included (all well-formed HTTP). */
const oddHeaders: fc.Arbitrary<Array<[string, string]>> = fc.array(
  fc.oneof(
    fc.constantFrom<[string, string]>(
      ['Connection', 'close'],
      ['Connection', 'keep-alive'],
      ['Accept', '*/*'],
      ['Accept-Encoding', 'gzip, br'],
      ['Expect', '100-continue'],
      ['User-Agent', 'Synapse/1.99'],
      ['X-Forwarded-For', '203.0.113.7, 10.0.0.1'],
      ['X-Forwarded-For', 'not an address'],
      ['X-Forwarded-For', ''],
      ['Authorization', 'X-Matrix origin="a.invalid",key="ed25519:a",sig="x"'],
      ['Cookie', 'a=b'],
      ['Range', 'bytes=0-10'],
      ['If-None-Match', '*'],
    ),
    fc.tuple(
      fc.string({ unit: fc.constantFrom(...'abcdefXYZ-_!#$%&\'*+.^`|~0123'.split('')), minLength: 1, maxLength: 12 }),
      fc.oneof(fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }), fc.string({ unit: fc.integer({ min: 0x80, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 8 })),
    ).map(([k, v]): [string, string] => [`X-${k}`, v.trim()]),
    // Long, but four of them stay under Node's 16 KB of headers (over it is the malformed property's).
    fc.integer({ min: 1000, max: 3000 }).map((len): [string, string] => ['X-Long', 'v'.repeat(len)]),
  ),
  { maxLength: 4 },
);

const keyIdOrNot = fc.oneof({ weight: 12, arbitrary: validKeyId }, { weight: 1, arbitrary: invalidKeyId });
const serverName = fc.oneof({ weight: 8, arbitrary: unreachableServerName }, { weight: 3, arbitrary: anyServerName }, { weight: 1, arbitrary: fc.constant(NOTARY_NAME) });

const timestampText = fc.oneof({ weight: 5, arbitrary: safeInteger.map(String) }, { weight: 1, arbitrary: nonIntegerText });

/** GET query targets: /query/{name}[/{keyId}[/{ts}]][?...], parts valid or not, percent-encoded every way. */
const getTarget: fc.Arbitrary<string> = fc
  .record({
    name: serverName,
    keyId: fc.option(keyIdOrNot, { nil: undefined }),
    ts: fc.option(timestampText, { nil: undefined }),
    search: fc.oneof({ weight: 6, arbitrary: fc.array(timestampText, { maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(timestampText, { minLength: 2, maxLength: 2 }) }),
    junk: sometimes(fc.constantFrom('?', '?&&', '?minimum_valid_until_ts', '?a=%zz', '#frag', '/extra', '//'), 8),
  })
  .chain((r) =>
    fc
      .tuple(
        percentEncodeSome(r.name),
        r.keyId === undefined ? fc.constant('') : percentEncodeSome(r.keyId),
        r.ts === undefined ? fc.constant('') : percentEncodeSome(r.ts),
        fc.tuple(...r.search.map((t) => percentEncodeSome(t, QUERY_SAFE))),
      )
      .map(([name, keyId, ts, search]) => {
        let path = `${QUERY_PATH}/${name}`;
        if (r.keyId !== undefined || r.ts !== undefined) path += `/${keyId}`;
        if (r.ts !== undefined) path += `/${ts}`;
        const query = search.map((t) => `minimum_valid_until_ts=${t}`).join('&');
        return `${path}${query ? `?${query}` : ''}${r.junk ?? ''}`;
      }),
  );

/** POST bodies: key queries (the spec form and the legacy one) with names and key IDs valid or not, counts about the limits. */
const queryBody: fc.Arbitrary<string> = fc
  .tuple(
    fc.uniqueArray(
      fc.tuple(
        serverName,
        fc.oneof(
          fc.dictionary(keyIdOrNot, fc.oneof(fc.constant({}), safeInteger.map((ts) => ({ minimum_valid_until_ts: ts }))), {
            maxKeys: LIMITS.maxKeysPerServer + 1,
            size: 'xsmall',
          }),
          fc.array(keyIdOrNot, { maxLength: LIMITS.maxKeysPerServer + 1, size: 'xsmall' }),
        ),
      ),
      { selector: ([name]) => name, maxLength: 6 },
    ),
    fc.oneof({ weight: 9, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: LIMITS.maxServersPerQuery - 5, max: LIMITS.maxServersPerQuery + 3 }) }),
  )
  .map(([servers, many]) => {
    const entries = [...servers, ...Array.from({ length: many }, (_, i): [string, unknown] => [`s${i}.invalid`, {}])];
    return JSON.stringify({ server_keys: Object.fromEntries(entries) });
  });

/** Every kind of body: key queries, numbers JSON writes otherwise, not JSON, other JSON, deep, and sized about the cap. */
const anyBody: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: queryBody.map((t) => Buffer.from(t)) },
  // Timestamps written as JSON allows but the protocol does not (1.0, 1e2, -0, beyond 2^53).
  {
    weight: 2,
    arbitrary: fc.tuple(unreachableServerName, validKeyId, nonCanonicalNumberText).map(([s, k, ts]) => Buffer.from(`{"server_keys":{${JSON.stringify(s)}:{${JSON.stringify(k)}:{"minimum_valid_until_ts":${ts}}}}}`)),
  },
  // Not JSON: cut short, text, bytes that are not UTF-8.
  { weight: 1, arbitrary: queryBody.chain((t) => fc.nat(t.length).map((cut) => Buffer.from(t.slice(0, cut)))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  // JSON of other shapes.
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')) },
  // Deep nesting, within the size cap.
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 1, max: 7000 }), fc.boolean()).map(([depth, objects]) =>
      Buffer.from(objects ? `{"server_keys":{},"x":${'{"a":'.repeat(depth / 5)}1${'}'.repeat(depth / 5)}}` : `{"server_keys":{},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`),
    ),
  },
  // About the size cap, and well over it.
  {
    weight: 1,
    arbitrary: fc
      .tuple(queryBody, fc.oneof(fc.integer({ min: MAX_BODY_BYTES - 64, max: MAX_BODY_BYTES + 64 }), fc.integer({ min: 2 * MAX_BODY_BYTES, max: 4 * MAX_BODY_BYTES })))
      .map(([t, size]) => {
        const base = `${t.slice(0, -1)},"pad":""}`;
        return Buffer.from(`${t.slice(0, -1)},"pad":"${'x'.repeat(Math.max(0, size - base.length))}"}`);
      }),
  },
);

const transfer = sometimes(fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), 4);

const queryRequest: fc.Arbitrary<Request> = fc.oneof(
  fc.tuple(fc.constantFrom('GET', 'GET', 'GET', 'HEAD'), getTarget, oddHeaders).map(([method, target, headers]): Request => ({ method, target, version: '1.1', headers })),
  fc.tuple(anyBody, contentType, oddHeaders, transfer).map(([body, ct, headers, chunks]): Request => ({ method: 'POST', target: QUERY_PATH, version: '1.1', headers: [...ct, ...headers], body, chunks })),
);

/** Paths under /_matrix/key/v2/ (and a few beside it): known, unknown, odd. */
const anyTarget: fc.Arbitrary<string> = fc.oneof(
  getTarget,
  fc.constantFrom(QUERY_PATH, `${QUERY_PATH}/`, SERVER_PATH, `${SERVER_PATH}/`, `${SERVER_PATH}/ed25519:a`, `${SERVER_PATH}/a/b`, '/_matrix/key/v2/', '/_matrix/key/v2', '/_matrix/key/v3/query', '/_notary/health/live', '/_notary/health/ready', '/', '*', '/metrics', 'http://evil.example/_matrix/key/v2/server', `${SERVER_PATH}?x=1`, `${QUERY_PATH}?minimum_valid_until_ts=1`),
  fc
    .array(fc.oneof(fc.constantFrom('query', 'server', '..', '.', '', '%2F', '%2e%2e', 'ed25519:a', 'a.invalid'), fc.string({ unit: fc.constantFrom(...'abz09.:-_~%[]@!$&()*+,;='.split('')), maxLength: 10 })), { minLength: 1, maxLength: 4 })
    .map((segments) => `/_matrix/key/v2/${segments.join('/')}`),
  fc.integer({ min: 100, max: 6000 }).map((len) => `${QUERY_PATH}/${'a'.repeat(len)}.invalid`),
);

const anyRequest: fc.Arbitrary<Request> = fc
  .record({
    method: fc.constantFrom('GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND'),
    target: anyTarget,
    version: fc.constantFrom<'1.1' | '1.0'>('1.1', '1.1', '1.1', '1.0'),
    ct: contentType,
    headers: oddHeaders,
    body: fc.option(anyBody, { freq: 2, nil: undefined }),
    chunks: transfer,
  })
  .map((r): Request => ({
    method: r.method,
    target: r.target,
    version: r.version,
    headers: [...r.ct, ...r.headers],
    body: r.body,
    // HTTP/1.0 has no chunked transfer coding.
    chunks: r.version === '1.0' ? undefined : r.chunks,
  }));

// ---------------------------------------------------------------------------------------------
// What may happen to Redis

/** What the api's parsers make of a key query: its status and errcode, and the servers it names. */
interface Expected {
  status: number;
  errcode?: string;
  names: string[];
}

/**
 * The verdict of the pure pipeline the api runs for a request on a key-query route (size cap,
 * JSON, integers written as integers, the query's own rules), or undefined for other routes.
 */
function expectedForQuery(r: Request): Expected | undefined {
  const qmark = r.target.indexOf('?');
  const path = qmark < 0 ? r.target : r.target.slice(0, qmark);
  const search = qmark < 0 ? '' : r.target.slice(qmark + 1);
  const refused = (err: unknown): Expected => {
    if (err instanceof MatrixError) return { status: err.status, errcode: err.errcode, names: [] };
    throw err;
  };
  if (path.startsWith(`${QUERY_PATH}/`)) {
    if (r.method !== 'GET' && r.method !== 'HEAD') return { status: 405, errcode: 'M_UNRECOGNIZED', names: [] };
    try {
      return { status: 200, names: [parser.getQuery(path.slice(QUERY_PATH.length + 1), search, 0).serverName] };
    } catch (err) {
      return refused(err);
    }
  }
  if (path !== QUERY_PATH) return undefined;
  if (r.method !== 'POST') return { status: 405, errcode: 'M_UNRECOGNIZED', names: [] };
  const body = r.body ?? Buffer.alloc(0);
  if (body.length > MAX_BODY_BYTES) return { status: 413, errcode: 'M_TOO_LARGE', names: [] };
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { status: 400, errcode: 'M_NOT_JSON', names: [] };
  }
  try {
    checkJsonNumbers(text);
  } catch {
    return { status: 400, errcode: 'M_BAD_JSON', names: [] };
  }
  try {
    return { status: 200, names: parser.postQuery(parsed, 0).map((q) => q.serverName) };
  } catch (err) {
    return refused(err);
  }
}

/** The servers a request may make the api queue fetches for: a valid key query's, less the notary itself. */
function namesItMayQueue(r: Request): string[] {
  const expected = expectedForQuery(r);
  return expected?.status === 200 ? expected.names.filter((name) => name !== NOTARY_NAME) : [];
}

const jobPrefix = () => `${bullPrefix(n.prefix)}:${REFRESH_QUEUE_NAME}:`;

/** The server names of the refresh jobs waiting now. */
async function queuedNames(): Promise<string[]> {
  const ids = await redis.lrange(`${jobPrefix()}wait`, 0, -1);
  return ids.map((id) => decodeURIComponent(id)).sort();
}

/** Waits (bounded) until every one of `names` is queued: the api queues beside its answer, not before it. */
async function untilQueued(names: string[]): Promise<string[]> {
  const wanted = [...new Set(names)].sort();
  for (let i = 0; i < 200; i++) {
    const queued = await queuedNames();
    if (wanted.every((name) => queued.includes(name))) return queued;
    await new Promise((r) => setTimeout(r, 10));
  }
  return queuedNames();
}

/** Keys of the refresh queue that queueing a fetch of `names` may add or change. */
function queueKeysFor(names: string[]): Set<string> {
  const p = jobPrefix();
  return new Set([`${p}wait`, `${p}events`, `${p}id`, `${p}marker`, `${p}meta`, ...names.map((name) => `${p}${refreshJobId(name)}`)]);
}

// ---------------------------------------------------------------------------------------------
// The check of one request

function expectMatrixErrorBody(res: RawResponse, head: boolean): void {
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  if (head) return;
  const body = JSON.parse(res.body.toString('utf8')) as { errcode: unknown; error: unknown };
  expect(typeof body.errcode).toBe('string');
  expect(body.errcode).toMatch(/^M_[A-Z_]+$/);
  expect(typeof body.error).toBe('string');
}

/** Sends one request and holds the api to the rules; returns the responses. */
async function checkRequest(bytes: Buffer, opts: { head: boolean; mayQueue: string[]; halfClose?: boolean; expect?: number }): Promise<RawResponse[]> {
  const before = baseline ?? (await takeSnapshot(redis, n.prefix));
  const { responses } = await exchange(port, bytes, { halfClose: opts.halfClose, expect: opts.expect ?? 1, headRequests: [opts.head], timeoutMs: 10_000 });
  expect(responses.length).toBeGreaterThan(0);
  for (const [i, res] of responses.entries()) {
    expect(res.status).toBeGreaterThanOrEqual(200);
    expect(res.status).toBeLessThan(500);
    if (res.status >= 400) expectMatrixErrorBody(res, opts.head && i === 0);
  }
  const ok = responses[0].status === 200;
  const queued = ok && opts.mayQueue.length > 0 ? await untilQueued(opts.mayQueue) : await queuedNames();
  const after = await takeSnapshot(redis, n.prefix);
  const changed = changedKeys(before, after);
  if (!ok || opts.mayQueue.length === 0) {
    // Refused (or nothing to fetch): nothing stored, nothing queued.
    expect(changed).toEqual([]);
    baseline = after;
    return responses;
  }
  // A valid query queued fetches of exactly the servers it names, and touched nothing else.
  expect(queued).toEqual([...new Set(opts.mayQueue)].sort());
  const allowed = queueKeysFor(opts.mayQueue);
  expect(changed.filter((k) => !allowed.has(k))).toEqual([]);
  await queue.drain();
  baseline = await takeSnapshot(redis, n.prefix);
  return responses;
}

/** The pod still answers, and has logged no unexpected error. */
async function expectStillAnswering(): Promise<void> {
  for (const path of [SERVER_PATH, '/_notary/health/ready']) {
    const { responses } = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(responses[0]?.status).toBe(200);
  }
  expect(n.logs.filter((line) => /"level":"(error|fatal)"/.test(line))).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// Properties

const QUERY_RUNS = 1000;
test(withCases('key queries over HTTP (GET and POST, valid or not, any body): the status and errcode the parsers call for, no 5xx, only valid queries queue fetches and only of the servers they name', QUERY_RUNS), async () => {
  await fc.assert(
    fc.asyncProperty(queryRequest, async (r) => {
      const expected = expectedForQuery(r) as Expected;
      const head = r.method === 'HEAD';
      const [res] = await checkRequest(serialize(r), { head, mayQueue: namesItMayQueue(r) });
      expect(res.status).toBe(expected.status);
      if (head) return;
      const body = JSON.parse(res.body.toString('utf8')) as { errcode?: string; server_keys?: Array<{ server_name: string }> };
      if (expected.errcode !== undefined) {
        expect(body.errcode).toBe(expected.errcode);
        return;
      }
      // Nothing is stored for the servers asked: only the notary's own keys can be in the answer.
      expect(body.server_keys?.map((entry) => entry.server_name)).toEqual(expected.names.includes(NOTARY_NAME) ? [NOTARY_NAME] : []);
    }),
    { numRuns: QUERY_RUNS },
  );
  await expectStillAnswering();
}, 120_000);

const ANY_RUNS = 1000;
test(withCases('any method, path under /_matrix/key/v2/, query string, header and body: no 5xx, a Matrix error with every 4xx, nothing stored but what a valid query queues', ANY_RUNS), async () => {
  await fc.assert(
    fc.asyncProperty(anyRequest, async (r) => {
      await checkRequest(serialize(r), { head: r.method === 'HEAD', mayQueue: namesItMayQueue(r) });
    }),
    { numRuns: ANY_RUNS },
  );
  await expectStillAnswering();
}, 120_000);

/** Requests Node's HTTP parser (or HTTP itself) refuses, each kind with generated parts. */
const malformed: fc.Arbitrary<{ bytes: Buffer; halfClose?: boolean; expect?: number }> = fc.oneof(
  // A request line that is not HTTP/1.x.
  fc
    .tuple(fc.constantFrom('get', 'G ET', 'GET\t', '', 'ÄGET', 'GET GET', 'BREW', 'M-SEARCH'), fc.constantFrom(SERVER_PATH, `${QUERY_PATH}/a.invalid`, ''), fc.constantFrom('HTTP/1.1', 'HTTP/9.9', 'HTTP/1', 'HTTP/1.1x', 'HTTPS/1.1', '', 'HTTP/2.0'))
    .map(([m, p, v]) => ({ bytes: Buffer.from(`${m} ${p} ${v}\r\nHost: x\r\n\r\n`, 'latin1') })),
  // Bytes a request target may not hold.
  fc.constantFrom('\u0000', '\u0001', ' x', '\u007f', '\t', '"', '<', '\\').map((c) => ({ bytes: Buffer.from(`GET ${QUERY_PATH}/a${c}b.invalid HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1') })),
  // Header lines that are not headers.
  fc
    .constantFrom('X Bad: 1', 'X(Bad): 1', ': empty', 'NoColon', 'X-Fold: a\r\n folded', 'X-Ctl: a\u0001b', 'X-Nul: a\u0000b', 'X-Del: a\u007fb', '\u00e9: 1')
    .map((line) => ({ bytes: Buffer.from(`GET ${SERVER_PATH} HTTP/1.1\r\nHost: x\r\n${line}\r\n\r\n`, 'latin1') })),
  // Framing: two lengths, length and chunking, bad chunks, unknown codings.
  fc
    .tuple(
      fc.constantFrom(
        'Content-Length: 2\r\nContent-Length: 3',
        'Content-Length: 2\r\nTransfer-Encoding: chunked',
        'Content-Length: -1',
        'Content-Length: 1e3',
        'Content-Length: 99999999999999999999',
        'Transfer-Encoding: gzip',
        'Transfer-Encoding: chunked, gzip',
        'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
      ),
      fc.constantFrom('{}', 'zz\r\n{}\r\n0\r\n\r\n', '2\r\n{}\r\n0\r\n\r\n', 'fffffffffffffffff\r\n{}'),
    )
    .map(([framing, body]) => ({ bytes: Buffer.from(`POST ${QUERY_PATH} HTTP/1.1\r\nHost: x\r\n${framing}\r\n\r\n${body}`, 'latin1'), halfClose: true })),
  fc.constantFrom('zz', '-1', 'fffffffffffffffff', '2;x=' + 'y'.repeat(20), '1\r\n{\r\nzz').map((size) => ({
    bytes: Buffer.from(`POST ${QUERY_PATH} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n{}\r\n0\r\n\r\n`, 'latin1'),
    halfClose: true,
  })),
  // Headers over Node's 16 KB, in one header or many.
  fc.integer({ min: 17_000, max: 40_000 }).map((len) => ({ bytes: Buffer.from(`GET ${SERVER_PATH} HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(len)}\r\n\r\n`) })),
  fc.integer({ min: 200, max: 600 }).map((count) => ({ bytes: Buffer.from(`GET ${SERVER_PATH} HTTP/1.1\r\nHost: x\r\n${Array.from({ length: count }, (_, i) => `X-H${i}: ${'v'.repeat(40)}`).join('\r\n')}\r\n\r\n`) })),
  // HTTP/1.1 without Host.
  fc.constantFrom(SERVER_PATH, `${QUERY_PATH}/a.invalid`, '/_notary/health/live', '/nowhere').map((p) => ({ bytes: Buffer.from(`GET ${p} HTTP/1.1\r\nConnection: close\r\n\r\n`) })),
  fc.constant({ bytes: Buffer.from(`POST ${QUERY_PATH} HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}`) }),
  // CONNECT and protocol upgrades.
  fc.constantFrom('CONNECT a.invalid:443 HTTP/1.1\r\nHost: a.invalid:443\r\n\r\n', `GET ${SERVER_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, `GET ${SERVER_PATH} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`).map((s) => ({ bytes: Buffer.from(s) })),
  fc.constant({ bytes: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') }),
  // A body cut short by a client that stops sending.
  fc.tuple(queryBody, fc.integer({ min: 1, max: 100 })).map(([body, missing]) => ({
    bytes: Buffer.from(`POST ${QUERY_PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(body) + missing}\r\n\r\n${body}`),
    halfClose: true,
  })),
  // A good request, then garbage on the same connection.
  fc.constantFrom('GARBAGE\r\n\r\n', 'GET / HTTP/1.1\r\nX Bad: 1\r\n\r\n', '\u0000\u0000\u0000').map((tail) => ({
    bytes: Buffer.from(`GET ${SERVER_PATH} HTTP/1.1\r\nHost: x\r\n\r\n${tail}`, 'latin1'),
    halfClose: true,
    expect: 2,
  })),
);

const MALFORMED_RUNS = 400;
test(withCases('requests the HTTP parser refuses (bad request lines, headers, framing, 16 KB of headers, no Host, CONNECT, upgrades, bodies cut short): a 4xx Matrix error where the socket allows, nothing stored', MALFORMED_RUNS), async () => {
  const seen = new Set<number>();
  await fc.assert(
    fc.asyncProperty(malformed, async (m) => {
      const responses = await checkRequest(m.bytes, { head: false, mayQueue: [], halfClose: m.halfClose, expect: m.expect });
      responses.forEach((res) => seen.add(res.status));
    }),
    { numRuns: MALFORMED_RUNS },
  );
  // The generator reached each kind of refusal: 400 (not HTTP), 405 (CONNECT), 431 (headers too large).
  expect([...seen].filter((s) => s >= 400).sort()).toEqual(expect.arrayContaining([400, 405, 431]));
  await expectStillAnswering();
}, 120_000);
