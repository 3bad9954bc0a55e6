/** The signer's internal HTTP API, over real HTTP on 127.0.0.1. */
import * as http from 'node:http';
import { Registry } from 'prom-client';
import { type JsonObject } from '@matrix-notary/protocol';
import { LocalSigner, SIGNER_OPERATIONS_METRIC, startSignerServer, type RunningSignerServer } from '@matrix-notary/signer';
import { COUNTERSIGN_PATH, OWN_KEYS_PATH, type NotarySigner } from '@matrix-notary/signer-client';
import { captureLogs, DAY_MS, NOTARY_KEY, NOTARY_NAME, NOW_MS, originResponse, originResponseBytes, rawRequest } from './helpers';

const TOKEN = 'test-signer-token-0123456789';
const AUTH = { Authorization: `Bearer ${TOKEN}` };
const MAX_BODY_BYTES = 4096;

let signer: LocalSigner;
let server: RunningSignerServer;
let registry: Registry;
let logs: ReturnType<typeof captureLogs>;

beforeAll(async () => {
  signer = new LocalSigner({ serverName: NOTARY_NAME, key: NOTARY_KEY, ownKeyValidityMs: DAY_MS, now: () => NOW_MS });
  registry = new Registry();
  logs = captureLogs();
  server = await startSignerServer({
    signer,
    port: 0,
    bind: '127.0.0.1',
    token: TOKEN,
    maxBodyBytes: MAX_BODY_BYTES,
    logger: logs.logger,
    registry,
  });
});

afterAll(async () => {
  await server.stop();
});

async function metricValue(operation: string, outcome: string): Promise<number> {
  const metric = (await registry.getSingleMetric(SIGNER_OPERATIONS_METRIC)?.get()) ?? { values: [] };
  const v = metric.values.find((x) => x.labels.operation === operation && x.labels.outcome === outcome);
  return v ? v.value : 0;
}

describe('authentication', () => {
  test('no Authorization header is 401 M_MISSING_TOKEN', async () => {
    const res = await rawRequest(server.port, { path: OWN_KEYS_PATH });
    expect(res.status).toBe(401);
    expect(res.json()).toMatchObject({ errcode: 'M_MISSING_TOKEN' });
    expect(res.headers['content-type']).toBe('application/json');
  });

  test('another scheme is 401 M_MISSING_TOKEN', async () => {
    const res = await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: { Authorization: `Basic ${TOKEN}` } });
    expect(res.status).toBe(401);
    expect(res.json().errcode).toBe('M_MISSING_TOKEN');
  });

  test.each([
    ['another token', 'nope'],
    ['a prefix of the token', TOKEN.slice(0, -1)],
    ['the token and more', TOKEN + 'x'],
    ['the token in another case', TOKEN.toUpperCase()],
  ])('%s is 401 M_UNKNOWN_TOKEN', async (_label, token) => {
    const res = await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(401);
    expect(res.json().errcode).toBe('M_UNKNOWN_TOKEN');
  });

  test('the scheme name is case-insensitive', async () => {
    const res = await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: { Authorization: `bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
  });

  test('countersign demands the token too, and never signs without it', async () => {
    const before = await metricValue('countersign', 'unauthorized');
    const res = await rawRequest(server.port, { method: 'POST', path: COUNTERSIGN_PATH, body: originResponseBytes() });
    expect(res.status).toBe(401);
    expect(res.body.toString()).not.toContain('signatures');
    expect(await metricValue('countersign', 'unauthorized')).toBe(before + 1);
  });

  test('unknown paths are not revealed without the token', async () => {
    const res = await rawRequest(server.port, { path: '/nothing/here' });
    expect(res.status).toBe(401);
  });

  test('GET /healthz needs no token', async () => {
    const res = await rawRequest(server.port, { path: '/healthz' });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ ok: true });
  });
});

describe('own-keys', () => {
  test('returns the LocalSigner\'s bytes as application/json', async () => {
    const res = await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: AUTH });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body.equals((await signer.ownKeys()).bytes)).toBe(true);
  });

  test('a query string does not change the route', async () => {
    const res = await rawRequest(server.port, { path: `${OWN_KEYS_PATH}?x=1`, headers: AUTH });
    expect(res.status).toBe(200);
  });
});

describe('countersign', () => {
  test('returns the LocalSigner\'s countersigned bytes', async () => {
    const input = originResponseBytes();
    const res = await rawRequest(server.port, { method: 'POST', path: COUNTERSIGN_PATH, headers: AUTH, body: input });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.body.equals(await signer.countersign(input))).toBe(true);
  });

  test('a refusal is 400 M_NOT_SIGNABLE with the reason', async () => {
    const before = await metricValue('countersign', 'refused');
    const tampered = Buffer.from(JSON.stringify({ ...originResponse(), valid_until_ts: 5 }));
    const res = await rawRequest(server.port, { method: 'POST', path: COUNTERSIGN_PATH, headers: AUTH, body: tampered });
    expect(res.status).toBe(400);
    expect(res.json()).toMatchObject({ errcode: 'M_NOT_SIGNABLE', reason: 'bad_signature' });
    expect(typeof res.json().error).toBe('string');
    expect(await metricValue('countersign', 'refused')).toBe(before + 1);
  });

  test('an empty body is refused as not_json', async () => {
    const res = await rawRequest(server.port, { method: 'POST', path: COUNTERSIGN_PATH, headers: AUTH, body: Buffer.alloc(0) });
    expect(res.status).toBe(400);
    expect(res.json().reason).toBe('not_json');
  });

  test.each([
    ['with a Content-Length', false],
    ['streamed in chunks', true],
  ])('a body over the limit is 413 M_TOO_LARGE (%s)', async (_label, chunked) => {
    const before = await metricValue('countersign', 'too_large');
    const body = Buffer.alloc(64 * 1024, 0x20);
    const res = await rawRequest(server.port, { method: 'POST', path: COUNTERSIGN_PATH, headers: AUTH, body, chunked });
    expect(res.status).toBe(413);
    expect(res.json().errcode).toBe('M_TOO_LARGE');
    expect(await metricValue('countersign', 'too_large')).toBe(before + 1);
  });

  test('a body of exactly the limit is read (and judged on its content)', async () => {
    const body = Buffer.alloc(MAX_BODY_BYTES, 0x20);
    const res = await rawRequest(server.port, { method: 'POST', path: COUNTERSIGN_PATH, headers: AUTH, body });
    expect(res.status).toBe(400);
    expect(res.json().reason).toBe('not_json');
  });
});

describe('routing', () => {
  test('an unknown path is 404 M_UNRECOGNIZED', async () => {
    const res = await rawRequest(server.port, { path: '/_notary/signer/v1/private-key', headers: AUTH });
    expect(res.status).toBe(404);
    expect(res.json().errcode).toBe('M_UNRECOGNIZED');
  });

  test.each([
    ['GET', COUNTERSIGN_PATH, 'POST'],
    ['PUT', COUNTERSIGN_PATH, 'POST'],
    ['POST', OWN_KEYS_PATH, 'GET'],
    ['DELETE', OWN_KEYS_PATH, 'GET'],
  ])('%s %s is 405 M_UNRECOGNIZED, Allow: %s', async (method, path, allow) => {
    const res = await rawRequest(server.port, { method, path, headers: AUTH, body: method === 'GET' ? undefined : Buffer.from('{}') });
    expect(res.status).toBe(405);
    expect(res.json().errcode).toBe('M_UNRECOGNIZED');
    expect(res.headers.allow).toBe(allow);
  });
});

test('operations are counted by operation and outcome', async () => {
  const before = await metricValue('own_keys', 'ok');
  await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: AUTH });
  expect(await metricValue('own_keys', 'ok')).toBe(before + 1);
  const text = await registry.metrics();
  expect(text).toContain(`# TYPE ${SIGNER_OPERATIONS_METRIC} counter`);
  expect(text).toMatch(new RegExp(`${SIGNER_OPERATIONS_METRIC}\\{operation="own_keys",outcome="ok"\\} \\d+`));
});

test('an unexpected error is 500 M_UNKNOWN and logged, and the server keeps serving', async () => {
  const failing: NotarySigner = {
    serverName: NOTARY_NAME,
    ownKeys: () => Promise.reject(new Error('disk on fire')),
    countersign: () => Promise.reject(new Error('disk on fire')),
    close: async () => undefined,
  };
  const captured = captureLogs();
  const other = await startSignerServer({ signer: failing, port: 0, bind: '127.0.0.1', token: TOKEN, maxBodyBytes: 1024, logger: captured.logger });
  try {
    const res = await rawRequest(other.port, { path: OWN_KEYS_PATH, headers: AUTH });
    expect(res.status).toBe(500);
    expect(res.json().errcode).toBe('M_UNKNOWN');
    expect(res.body.toString()).not.toContain('disk on fire');
    expect(captured.text()).toContain('disk on fire');
    expect((await rawRequest(other.port, { path: '/healthz' })).status).toBe(200);
  } finally {
    await other.stop();
  }
});

test('refuses to start without a token', async () => {
  await expect(
    startSignerServer({ signer, port: 0, bind: '127.0.0.1', token: '', maxBodyBytes: 1024, logger: captureLogs().logger }),
  ).rejects.toThrow(/NOTARY_SIGNER_TOKEN/);
});

test('stop() closes the listener even with a kept-alive connection open', async () => {
  const other = await startSignerServer({ signer, port: 0, bind: '127.0.0.1', token: TOKEN, maxBodyBytes: 1024, logger: captureLogs().logger });
  const agent = new http.Agent({ keepAlive: true });
  try {
    await new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: other.port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
    await other.stop();
    await expect(rawRequest(other.port, { path: '/healthz' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  } finally {
    agent.destroy();
  }
});

test('two servers can share one registry', async () => {
  const other = await startSignerServer({ signer, port: 0, bind: '127.0.0.1', token: TOKEN, maxBodyBytes: 1024, logger: captureLogs().logger, registry });
  try {
    const before = await metricValue('own_keys', 'ok');
    expect((await rawRequest(other.port, { path: OWN_KEYS_PATH, headers: AUTH })).status).toBe(200);
    expect(await metricValue('own_keys', 'ok')).toBe(before + 1);
  } finally {
    await other.stop();
  }
});

test('the response body is the parsed own-keys JSON the signer made', async () => {
  const res = await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: AUTH });
  expect((res.json() as JsonObject).valid_until_ts).toBe(NOW_MS + DAY_MS);
});
