/**
 * Each upstream notary's own rate limit and backoff (UpstreamLimits in Redis, used by
 * UpstreamNotaries), shared by every worker: an upstream that failed is passed over, for a wait
 * that doubles per failure in a row, and the next one listed is asked; one asked too often in a
 * window is passed over until the next. The clock is the test's; Redis is the real test Redis; the
 * upstreams are a poster that answers as told (their answers' checks have tests of their own).
 */
import { Writable } from 'node:stream';
import { createLogger } from '@matrix-notary/common';
import { createRedis, KeyStore, UpstreamLimits, type Redis } from '@matrix-notary/store';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { Registry } from 'prom-client';
import { createWorkerMetrics, UpstreamNotaries, type UpstreamPoster } from '../src';
import { SignerGate } from '../src/signer-gate';

const T0_MS = 1_700_000_000_000;
const FIRST_BACKOFF_MS = 10_000;
const MAX_BACKOFF_MS = 35_000;
const WINDOW_MS = 10_000;
const KEY = { 'ed25519:up': 'x'.repeat(43) };

let redis: Redis;
let prefix: string;
let nowMs: number;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { connectionName: 'worker-test-upstream-limits' });
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  prefix = uniquePrefix('upstream-limits');
  nowMs = T0_MS;
});
afterEach(async () => {
  await deletePrefix(prefix);
});

type Behaviour = 'empty' | 'down' | 'unsigned';

/** A poster standing for upstreams by host: each answers as its behaviour says, and counts asks. */
function upstreamsAt(behaviours: Record<string, Behaviour>) {
  const asked: Record<string, number> = Object.fromEntries(Object.keys(behaviours).map((h) => [h, 0]));
  const poster: UpstreamPoster = {
    async postJson(url: URL) {
      const host = url.hostname;
      asked[host]++;
      switch (behaviours[host]) {
        case 'down':
          throw Object.assign(new Error(`${url.origin}: connection failed (ECONNREFUSED)`), { reason: 'connection' });
        case 'unsigned':
          return { statusCode: 200, body: Buffer.from('{"server_keys":{}}') }; // not a notary answer: bad_answer
        default:
          return { statusCode: 200, body: Buffer.from('{"server_keys":[]}') };
      }
    },
  };
  return { poster, asked, behaviours };
}

function notaries(poster: UpstreamPoster, names: string[], asksPerWindow = 50) {
  const registry = new Registry();
  const metrics = createWorkerMetrics(registry);
  const upstreams = new UpstreamNotaries({
    upstreams: names.map((n) => ({ serverName: `${n}.example.net`, url: `http://${n}.example.net/`, verifyKeys: KEY })),
    poster,
    store: new KeyStore(redis, { prefix }),
    limits: new UpstreamLimits(redis, prefix, { windowMs: WINDOW_MS, asksPerWindow, firstBackoffMs: FIRST_BACKOFF_MS, maxBackoffMs: MAX_BACKOFF_MS }),
    signer: { countersign: async (b: Buffer) => b },
    gate: new SignerGate(async () => undefined),
    policy: { notaryServerName: 'notary.example.org', minKeyValidityMs: 0, timeoutMs: 5000 },
    logger: createLogger({ role: 'worker', level: 'silent', destination: new Writable({ write: (_c, _e, cb) => cb() }) }),
    metrics,
    now: () => nowMs,
  });
  const outcomes = async (): Promise<Record<string, number>> => {
    const { values } = await metrics.upstreamQueries.get();
    return Object.fromEntries(values.filter((v) => v.value > 0).map((v) => [String(v.labels.outcome), v.value]));
  };
  return { upstreams, outcomes };
}

let origin = 0;
const nextOrigin = () => `origin${++origin}.example.org`;

test('a failing upstream is passed over for a doubling wait, the next one asked; an answer ends its backoff', async () => {
  const { poster, asked, behaviours } = upstreamsAt({ 'first.example.net': 'down', 'second.example.net': 'empty' });
  const { upstreams, outcomes } = notaries(poster, ['first', 'second']);

  await upstreams.learn(nextOrigin());
  expect(asked).toEqual({ 'first.example.net': 1, 'second.example.net': 1 });
  expect(await outcomes()).toEqual({ failed: 1, empty: 1 });

  // Within the first backoff: not asked.
  nowMs += FIRST_BACKOFF_MS - 1;
  await upstreams.learn(nextOrigin());
  expect(asked).toEqual({ 'first.example.net': 1, 'second.example.net': 2 });
  expect(await outcomes()).toEqual({ failed: 1, empty: 2, backing_off: 1 });

  // Asked again when it is over; failing again doubles the wait.
  nowMs += 1;
  await upstreams.learn(nextOrigin());
  expect(asked['first.example.net']).toBe(2);
  nowMs += 2 * FIRST_BACKOFF_MS - 1;
  await upstreams.learn(nextOrigin());
  expect(asked['first.example.net']).toBe(2);
  nowMs += 1;
  await upstreams.learn(nextOrigin());
  expect(asked['first.example.net']).toBe(3);
  // The third wait would be 40 s: capped at the longest backoff.
  nowMs += MAX_BACKOFF_MS - 1;
  await upstreams.learn(nextOrigin());
  expect(asked['first.example.net']).toBe(3);
  nowMs += 1;
  behaviours['first.example.net'] = 'empty';
  await upstreams.learn(nextOrigin());
  expect(asked['first.example.net']).toBe(4);
  // It answered: no backoff any more.
  await upstreams.learn(nextOrigin());
  expect(asked['first.example.net']).toBe(5);
});

test('an answer that is not a notary answer counts as a failure too; the backoff holds across workers', async () => {
  const { poster, asked } = upstreamsAt({ 'first.example.net': 'unsigned', 'second.example.net': 'empty' });
  const workerA = notaries(poster, ['first', 'second']);
  const workerB = notaries(poster, ['first', 'second']);
  await workerA.upstreams.learn(nextOrigin());
  expect(await workerA.outcomes()).toEqual({ refused: 1, empty: 1 });
  await workerB.upstreams.learn(nextOrigin());
  expect(asked).toEqual({ 'first.example.net': 1, 'second.example.net': 2 });
  expect(await workerB.outcomes()).toEqual({ backing_off: 1, empty: 1 });
});

test('each upstream has its own rate limit per window, shared by every worker', async () => {
  const { poster, asked } = upstreamsAt({ 'first.example.net': 'empty', 'second.example.net': 'empty' });
  const workerA = notaries(poster, ['first', 'second'], 3);
  const workerB = notaries(poster, ['second'], 3);
  for (let i = 0; i < 2; i++) await workerA.upstreams.learn(nextOrigin());
  await workerB.upstreams.learn(nextOrigin()); // second's third ask of the window
  await workerA.upstreams.learn(nextOrigin()); // first's third; second's fourth: refused
  expect(asked).toEqual({ 'first.example.net': 3, 'second.example.net': 3 });
  await workerA.upstreams.learn(nextOrigin());
  expect(asked).toEqual({ 'first.example.net': 3, 'second.example.net': 3 });
  expect(await workerA.outcomes()).toEqual({ empty: 5, rate_limited: 3 });

  nowMs += WINDOW_MS;
  await workerA.upstreams.learn(nextOrigin());
  expect(asked).toEqual({ 'first.example.net': 4, 'second.example.net': 4 });
});
