/**
 * What a stranger gets for bad input on every public endpoint: the right 4xx Matrix error, and
 * nothing stored (the notary's Redis keys are the same before and after).
 */
import net from 'node:net';
import { createTestCa, type TestCa } from '@matrix-notary/testing';
import Redis from 'ioredis';
import { testRedisUrl } from '@matrix-notary/testing';
import { startNotary, type Notary } from './notary-harness';
import { takeSnapshot } from './redis-snapshot';

let ca: TestCa;
let n: Notary;
let redis: Redis;

beforeAll(async () => {
  ca = await createTestCa();
  n = await startNotary({ ca, env: { NOTARY_MAX_BODY_BYTES: '4096', NOTARY_MAX_SERVERS_PER_QUERY: '10', NOTARY_MAX_KEYS_PER_SERVER: '3' } });
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  redis.disconnect();
  await n.stop();
});

/**
 * Every key under the notary's prefix, with its contents (packages/api/test/redis-snapshot.ts),
 * except the client limiter's counts: it counts every request, refused or not (behaviour 9).
 */
const snapshot = async () => [...(await takeSnapshot(redis, n.prefix, (key) => key.startsWith(`${n.prefix}:limit:`))).entries()];

const manyServers = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`s${i}.example`, {}]));

const cases: Array<[string, string, string, string | undefined, number, string]> = [
  ['POST body not JSON', 'POST', '/_matrix/key/v2/query', '{"server_keys":', 400, 'M_NOT_JSON'],
  ['POST empty body', 'POST', '/_matrix/key/v2/query', '', 400, 'M_NOT_JSON'],
  ['POST server_keys missing', 'POST', '/_matrix/key/v2/query', '{}', 400, 'M_BAD_JSON'],
  ['POST server_keys a list', 'POST', '/_matrix/key/v2/query', '{"server_keys":[]}', 400, 'M_BAD_JSON'],
  ['POST criterion not an object', 'POST', '/_matrix/key/v2/query', '{"server_keys":{"a.example":{"ed25519:a":true}}}', 400, 'M_BAD_JSON'],
  ['POST minimum_valid_until_ts a float', 'POST', '/_matrix/key/v2/query', '{"server_keys":{"a.example":{"ed25519:a":{"minimum_valid_until_ts":1.5}}}}', 400, 'M_BAD_JSON'],
  // JSON.parse reads these as integers; they are not written as integers, so they are refused.
  ...['1.0', '1e2', '-0', '1e-400', '1E3', '9007199254740993'].map(
    (ts): [string, string, string, string, number, string] => [
      `POST minimum_valid_until_ts ${ts}`,
      'POST',
      '/_matrix/key/v2/query',
      `{"server_keys":{"a.example":{"ed25519:a":{"minimum_valid_until_ts":${ts}}}}}`,
      400,
      'M_BAD_JSON',
    ],
  ),
  ['POST invalid server name', 'POST', '/_matrix/key/v2/query', '{"server_keys":{"evil/../name":{}}}', 400, 'M_INVALID_PARAM'],
  ['POST invalid key ID', 'POST', '/_matrix/key/v2/query', '{"server_keys":{"a.example":{"not-a-key-id":{}}}}', 400, 'M_INVALID_PARAM'],
  ['POST oversize body', 'POST', '/_matrix/key/v2/query', JSON.stringify({ server_keys: { 'a.example': {} }, pad: 'x'.repeat(5000) }), 413, 'M_TOO_LARGE'],
  ['POST more servers than the limit', 'POST', '/_matrix/key/v2/query', JSON.stringify({ server_keys: manyServers }), 413, 'M_TOO_LARGE'],
  ['POST more key IDs than the limit', 'POST', '/_matrix/key/v2/query', '{"server_keys":{"a.example":{"ed25519:1":{},"ed25519:2":{},"ed25519:3":{},"ed25519:4":{}}}}', 413, 'M_TOO_LARGE'],
  ['GET invalid server name', 'GET', '/_matrix/key/v2/query/bad%20name', undefined, 400, 'M_INVALID_PARAM'],
  ['GET invalid key ID', 'GET', '/_matrix/key/v2/query/a.example/nokeyid', undefined, 400, 'M_INVALID_PARAM'],
  ['GET bad minimum_valid_until_ts', 'GET', '/_matrix/key/v2/query/a.example?minimum_valid_until_ts=tomorrow', undefined, 400, 'M_INVALID_PARAM'],
  ['GET bad path timestamp', 'GET', '/_matrix/key/v2/query/a.example/ed25519:a/1e9', undefined, 400, 'M_INVALID_PARAM'],
  ['GET on the POST-only path', 'GET', '/_matrix/key/v2/query', undefined, 405, 'M_UNRECOGNIZED'],
  ['POST on a GET-only query path', 'POST', '/_matrix/key/v2/query/a.example', '{}', 405, 'M_UNRECOGNIZED'],
  ['POST on /server', 'POST', '/_matrix/key/v2/server', '{}', 405, 'M_UNRECOGNIZED'],
  ['DELETE on /server/{keyId}', 'DELETE', '/_matrix/key/v2/server/ed25519:a', undefined, 405, 'M_UNRECOGNIZED'],
  ['an unknown path', 'GET', '/_matrix/key/v3/whatever', undefined, 404, 'M_UNRECOGNIZED'],
  ['an unknown path under /server', 'GET', '/_matrix/key/v2/server/a/b', undefined, 404, 'M_UNRECOGNIZED'],
];

test.each(cases)('%s (%s %s): the right Matrix error, nothing stored', async (_name, method, path, body, status, errcode) => {
  const before = await snapshot();
  const res = await fetch(n.url(path), { method, body, headers: body === undefined ? {} : { 'content-type': 'application/json' } });
  expect(res.status).toBe(status);
  const json = (await res.json()) as { errcode: string; error: string };
  expect(json.errcode).toBe(errcode);
  expect(typeof json.error).toBe('string');
  expect(await snapshot()).toEqual(before);
});

test('the api keeps answering after a burst of bad input', async () => {
  const res = await fetch(n.url('/_matrix/key/v2/server'));
  expect(res.status).toBe(200);
});

test.each(['POST', 'DELETE'])('%s on a health path is 405 M_UNRECOGNIZED', async (method) => {
  const res = await fetch(n.url('/_notary/health/live'), { method });
  expect(res.status).toBe(405);
  expect(((await res.json()) as { errcode: string }).errcode).toBe('M_UNRECOGNIZED');
});

/** Sends raw bytes and reads until the server closes: what a client with a broken HTTP stack sees. */
function rawExchange(port: number, bytes: string | Buffer): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head, ...rest] = text.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), headers: head, body: rest.join('\r\n\r\n') });
    });
    socket.write(bytes);
  });
}

const apiPort = () => Number(new URL(n.url('/')).port);

test.each([
  ['a request line that is not HTTP', 400, 'M_UNRECOGNIZED', 'GARBAGE / HTTP/9.9\r\n\r\n'],
  ['bad chunked encoding', 400, 'M_UNRECOGNIZED', 'POST /_matrix/key/v2/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nnope\r\n'],
  ['20 KB of headers', 431, 'M_TOO_LARGE', `GET /_matrix/key/v2/server HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(20_000)}\r\n\r\n`],
  ['CONNECT', 405, 'M_UNRECOGNIZED', 'CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\n\r\n'],
  ['an Upgrade request', 400, 'M_UNRECOGNIZED', 'GET /_matrix/key/v2/server HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'],
  ['an HTTP/1.1 request without Host', 400, 'M_UNRECOGNIZED', 'GET /_matrix/key/v2/server HTTP/1.1\r\nConnection: close\r\n\r\n'],
] as Array<[string, number, string, string]>)('%s, which the HTTP parser refuses, gets %i %s with a Matrix error body; nothing stored', async (_name, status, errcode, bytes) => {
  const before = await snapshot();
  const res = await rawExchange(apiPort(), bytes);
  expect(res.status).toBe(status);
  expect(res.headers).toMatch(/content-type: application\/json/i);
  expect(JSON.parse(res.body)).toEqual({ errcode, error: expect.any(String) });
  expect(await snapshot()).toEqual(before);
});
