/**
 * DESIGN behaviour 11, Redis part, with real api and worker instances on a Redis of the test's
 * own that it stops and starts: while Redis is unreachable, servers this pod answered recently are
 * answered from its own copy, others get 503 M_UNKNOWN with Retry-After (never a 500), readiness
 * stays up (an outage every pod shares must not empty the load balancer), and when Redis comes
 * back everything works again by itself.
 */
import { RedisServer } from '@matrix-notary/testing';
import { counterValue, getJson, postQuery, useTestBed } from './notary-harness';

jest.setTimeout(60_000);

const bed = useTestBed();
let redis: RedisServer;

beforeEach(async () => {
  redis = await RedisServer.start({ appendOnly: true });
});
afterEach(async () => {
  await redis.stop();
});

/** Polls (bounded) until the check passes; returns whether it did. */
async function eventually(check: () => Promise<boolean>, tries = 200): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test('Redis down: recent answers from the pod, 503 with Retry-After otherwise, still ready; back by itself', async () => {
  const n = await bed.notary({ redisUrl: redis.url });
  const known = await bed.origin();
  const unknownWhileDown = await bed.origin();
  const before = await getJson(n.url(`/_matrix/key/v2/query/${known.serverName}`));
  expect(before.json.server_keys).toHaveLength(1);

  await redis.halt();

  const fromCopy = await getJson(n.url(`/_matrix/key/v2/query/${known.serverName}`));
  expect(fromCopy.status).toBe(200);
  expect(fromCopy.json).toEqual(before.json);
  const viaPost = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [known.serverName]: {}, [unknownWhileDown.serverName]: {} } });
  expect(viaPost.status).toBe(200);
  expect(viaPost.json.server_keys.map((e: { server_name: string }) => e.server_name)).toEqual([known.serverName]);

  const res = await fetch(n.url(`/_matrix/key/v2/query/${unknownWhileDown.serverName}`));
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({ errcode: 'M_UNKNOWN', error: expect.any(String), retry_after_ms: expect.any(Number) });
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);

  expect((await fetch(n.url('/_notary/health/ready'))).status).toBe(200);
  expect((await fetch(n.url('/_matrix/key/v2/server'))).status).toBe(200);
  // The POST surely went past the fresh copy (its second server is not in it); the GET did if a
  // second had passed since the copy was made.
  expect(await counterValue(n.registries, 'matrix_notary_degraded_answers_total', { how: 'pod_copy' })).toBeGreaterThanOrEqual(1);
  expect(await counterValue(n.registries, 'matrix_notary_degraded_answers_total', { how: 'unavailable' })).toBe(1);
  expect(await counterValue(n.registries, 'matrix_notary_http_requests_total', { status: '500' })).toBe(0);
  expect(unknownWhileDown.fetches).toBe(0);

  await redis.restart();
  // Every part reconnects by itself: the api reads, the queue takes the job, the worker fetches.
  expect(await eventually(async () => (await getJson(n.url(`/_matrix/key/v2/query/${unknownWhileDown.serverName}`))).json?.server_keys?.length === 1)).toBe(true);
  expect((await getJson(n.url(`/_matrix/key/v2/query/${known.serverName}`))).json.server_keys).toHaveLength(1);
});

