/**
 * DESIGN behaviour 10: NOTARY_FETCH_WAIT_MS bounds the whole answer, whatever the origin or the
 * queue is doing. Shown causally, not by the clock: the answer arrives while the fetch it asked
 * for is still running, and while admission into the queue has not even finished.
 */
import { silentLogger } from '@matrix-notary/common';
import { createRedis, FetchWaiter, KeyStore, type RefreshQueue } from '@matrix-notary/store';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { Registry } from 'prom-client';
import { ClientLimits } from '../src/client-limits';
import { createApiMetrics } from '../src/metrics';
import type { OwnKeysCache } from '../src/own-keys-cache';
import { QueryService } from '../src/query-service';
import { counterValue, postQuery, useTestBed } from './notary-harness';

jest.setTimeout(30_000);

const bed = useTestBed();

test('a query for an origin that does not answer is answered at the deadline, while the fetch still runs', async () => {
  const n = await bed.notary({ env: { NOTARY_FETCH_WAIT_MS: '300', NOTARY_ORIGIN_TIMEOUT_MS: '20000' } });
  const o = await bed.origin();
  o.mode = 'hang';
  const answer = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [o.serverName]: {} } });
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({ server_keys: [] });
  // The origin was asked, and the refresh has not ended: the answer did not wait for it.
  expect(o.fetches).toBe(1);
  expect(await counterValue(n.registries, 'matrix_notary_refreshes_total')).toBe(0);
});

test('a query is answered at the deadline even when admission into the queue never finishes', async () => {
  const prefix = uniquePrefix('deadline');
  const redis = createRedis(testRedisUrl());
  const subscriber = createRedis(testRedisUrl(), { blocking: true });
  const waiter = new FetchWaiter(subscriber, prefix);
  await waiter.start();
  let admissions = 0;
  // A queue stuck in admission (as under a flood): its promise never settles.
  const stuckQueue = { enqueue: () => (admissions++, new Promise<string[]>(() => undefined)) } as unknown as RefreshQueue;
  const service = new QueryService({
    serverName: 'notary.test',
    store: new KeyStore(redis, { prefix }),
    queue: stuckQueue,
    waiter,
    ownKeys: {} as OwnKeysCache,
    limits: new ClientLimits(redis, prefix, { trustedProxies: [], unlimited: [], requestsPerS: 0, burst: 1, newOriginsPerMin: 0 }),
    logger: silentLogger(),
    metrics: createApiMetrics(new Registry()),
  });
  try {
    const answer = await service.answer(
      [{ serverName: 'never.example', keyIds: [], minValidUntilTs: Date.now() }],
      { key: '192.0.2.1', unlimited: false },
      Date.now() + 200,
    );
    expect(JSON.parse(answer.toString())).toEqual({ server_keys: [] });
    expect(admissions).toBe(1);
  } finally {
    await waiter.close();
    redis.disconnect();
    await deletePrefix(prefix);
  }
});
