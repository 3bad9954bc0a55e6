/**
 * While Redis is down (issue 8 item 7), the roles as real processes: no stack traces, at most one
 * log line per connection per 10 s, errors counted in matrix_notary_redis_errors_total; and when
 * Redis returns, every role reconnects by itself (the api answers again, the worker fetches a new
 * origin, the fetch event reaches the api).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestCa, FakeOrigin, RedisServer, waitFor, type TestCa } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, startCli, stopWithin, waitForUrl, type RunningProcess } from './processes';
import { startSignerProcess, type SignerProcess } from './signer-process';

jest.setTimeout(90_000);

const TOKEN = 'redis-outage-test-token-0123456789';
/** Long enough for each connection's error line to be due twice (at the start and after 10 s). */
const OUTAGE_MS = 12_000;
/** One line at the start of the outage and at most one per 10 s after it. */
const MAX_ERROR_LINES_PER_CONNECTION = Math.floor(OUTAGE_MS / 10_000) + 1;

let dir: string;
let ca: TestCa;
let signer: SignerProcess;
let redis: RedisServer;
let api: RunningProcess;
let worker: RunningProcess;
let apiPort: number;
const metricsPorts: Record<string, number> = {};
const origins: FakeOrigin[] = [];

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-redis-outage-'));
  ca = await createTestCa();
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.caPem);
  signer = await startSignerProcess(dir, 'notary.outage.test', TOKEN);
  redis = await RedisServer.start({ appendOnly: true });
  apiPort = await freeLoopbackPort();
  metricsPorts.api = await freeLoopbackPort();
  metricsPorts.worker = await freeLoopbackPort();
  const env = {
    ...signer.env,
    NOTARY_SIGNER_TOKEN: TOKEN,
    REDIS_URL: redis.url,
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    NOTARY_FEDERATION_CA_FILE: path.join(dir, 'ca.pem'),
    NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
    NOTARY_LOG_LEVEL: 'info',
  };
  worker = startCli(['worker'], { ...env, NOTARY_METRICS_PORT: String(metricsPorts.worker) });
  api = startCli(['api'], { ...env, NOTARY_PORT: String(apiPort), NOTARY_METRICS_PORT: String(metricsPorts.api) });
  await waitForUrl(`http://127.0.0.1:${apiPort}/_notary/health/ready`, api);
  await waitForUrl(`http://127.0.0.1:${metricsPorts.worker}/metrics`, worker);
});

afterAll(async () => {
  await Promise.all([api, worker, signer?.process].map((p) => p?.stop()));
  await Promise.all(origins.map((o) => o.stop()));
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function newOrigin(): Promise<FakeOrigin> {
  const origin = await FakeOrigin.start({ ca });
  origins.push(origin);
  return origin;
}

/** Entries answered for one origin (0 on any failure). */
async function entries(origin: FakeOrigin): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/_matrix/key/v2/query/${origin.serverName}`, { signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) return 0;
    return ((await res.json()) as { server_keys: unknown[] }).server_keys.length;
  } catch {
    return 0;
  }
}

async function redisErrors(role: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPorts[role]}/metrics`)).text();
  const m = /^matrix_notary_redis_errors_total\{[^}]*\} (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Each output line: a JSON log line, or the CLI's own "matrix-notary <role>: ..." line. */
function parseOutput(output: string): { logs: Array<Record<string, unknown>>; strays: string[] } {
  const logs: Array<Record<string, unknown>> = [];
  const strays: string[] = [];
  for (const line of output.split('\n').filter((l) => l.trim() !== '')) {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      if (!line.startsWith('matrix-notary ')) strays.push(line);
    }
  }
  return { logs, strays };
}

test('Redis down for 12 s: no stack trace, one line per connection per 10 s, errors counted; back up: every role reconnects by itself', async () => {
  const cached = await newOrigin();
  expect(await entries(cached)).toBe(1);
  const before = { api: api.output().length, worker: worker.output().length };

  await redis.halt();
  const downUntil = Date.now() + OUTAGE_MS;
  while (Date.now() < downUntil) {
    await entries(cached); // makes the api's commands fail while Redis is away
    await new Promise((r) => setTimeout(r, 250));
  }
  await redis.restart();

  // Reconnected by themselves: the cached origin is answered again, and a new one is fetched by
  // the worker, stored, and its fetch event reaches the api.
  await waitFor(async () => (await entries(cached)) === 1, 'the api to answer from Redis again', 20_000);
  const fresh = await newOrigin();
  await waitFor(async () => (await entries(fresh)) === 1, 'a new origin to be fetched after the outage', 20_000);
  expect(fresh.fetches).toBe(1);

  for (const [role, proc] of Object.entries({ api, worker })) {
    const during = proc.output().slice(before[role as 'api' | 'worker']);
    expect(during).not.toMatch(/\n\s+at \S/);
    const { logs, strays } = parseOutput(during);
    expect({ role, strays }).toEqual({ role, strays: [] });
    const errorLines = logs.filter((l) => /Redis (connection )?error/.test(String(l.msg)));
    expect(errorLines.length).toBeGreaterThan(0);
    const perConnection = new Map<string, number>();
    for (const l of errorLines) perConnection.set(String(l.connection), (perConnection.get(String(l.connection)) ?? 0) + 1);
    for (const [connection, count] of perConnection) {
      expect({ role, connection, count: Math.min(count, MAX_ERROR_LINES_PER_CONNECTION + 1) }).toEqual({
        role,
        connection,
        count: Math.min(count, MAX_ERROR_LINES_PER_CONNECTION),
      });
    }
    expect(await redisErrors(role)).toBeGreaterThan(0);
  }
});

test('Redis down: api and worker still stop on SIGTERM at once, with exit code 0', async () => {
  await redis.halt();
  const stops = await Promise.all([stopWithin(api), stopWithin(worker)]);
  expect(stops.map((s) => ({ code: s.code, signal: s.signal }))).toEqual([
    { code: 0, signal: null },
    { code: 0, signal: null },
  ]);
});
