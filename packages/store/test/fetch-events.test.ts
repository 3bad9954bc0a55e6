/**
 * FetchEventPublisher / FetchWaiter: a query waiting for a fetch (DESIGN behaviour 2, "waits up to
 * NOTARY_FETCH_WAIT_MS") answers as soon as the fetch ends, or after the wait when it does not.
 */
import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import { createRedis, FetchEventPublisher, fetchEventsChannel, FetchWaiter } from '@matrix-notary/store';
import { testRedisUrl, uniquePrefix } from './redis-test-helpers';

// Pub/sub channels are not keys: nothing is left in Redis to delete after these tests.
const PREFIX = uniquePrefix();
/** Far longer than any prompt wake-up takes; a waiter that only ends by timeout fails the bound below. */
const LONG_WAIT_MS = 10_000;
const PROMPT_MS = 5_000;

let publisherRedis: Redis;
let publisher: FetchEventPublisher;
let waiter: FetchWaiter;

beforeAll(async () => {
  publisherRedis = createRedis(testRedisUrl(), { connectionName: 'store-test-fetch-events-pub' });
  publisher = new FetchEventPublisher(publisherRedis, PREFIX);
  waiter = new FetchWaiter(createRedis(testRedisUrl(), { blocking: true, connectionName: 'store-test-fetch-events-sub' }), PREFIX);
  await waiter.start();
});

afterAll(async () => {
  await waiter.close();
  await publisherRedis.quit();
});

/** Starts waitFor and reports when it ended, without awaiting it. */
function startWaiting(serverNames: string[], timeoutMs: number): { done: Promise<number>; ended: () => boolean } {
  const started = performance.now();
  let ended = false;
  const done = waiter.waitFor(serverNames, timeoutMs).then(() => {
    ended = true;
    return performance.now() - started;
  });
  return { done, ended: () => ended };
}

/**
 * Resolves once the waiter has handled every event published before this call: events reach the
 * subscriber in publish order, so when a marker event published last has woken its waiter, the
 * ones before it have been dispatched too.
 */
async function eventsDelivered(): Promise<void> {
  const marker = `marker-${Math.random().toString(36).slice(2)}.example.org`;
  const { done } = startWaiting([marker], LONG_WAIT_MS);
  await publisher.publish(marker, 'skipped');
  expect(await done).toBeLessThan(PROMPT_MS);
}

describe('FetchWaiter.waitFor', () => {
  it('resolves promptly when a fetch event is published for the origin', async () => {
    const { done } = startWaiting(['stored.example.org'], LONG_WAIT_MS);
    await publisher.publish('stored.example.org', 'stored');
    expect(await done).toBeLessThan(PROMPT_MS);
    expect(waiter.pendingOrigins).toBe(0);
  });

  it.each(['refused', 'failed', 'skipped'] as const)('is woken by a "%s" event too', async (outcome) => {
    const { done } = startWaiting([`${outcome}.example.org:8448`], LONG_WAIT_MS);
    await publisher.publish(`${outcome}.example.org:8448`, outcome);
    expect(await done).toBeLessThan(PROMPT_MS);
  });

  it('resolves after the timeout when no event comes, and forgets the origin', async () => {
    const timeoutMs = 300;
    const elapsed = await startWaiting(['silent.example.org'], timeoutMs).done;
    expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 50);
    expect(elapsed).toBeLessThan(timeoutMs + PROMPT_MS);
    expect(waiter.pendingOrigins).toBe(0);
  });

  it('is not woken by an event for another origin', async () => {
    const waiting = startWaiting(['patient.example.org'], LONG_WAIT_MS);
    await publisher.publish('other.example.org', 'stored');
    await eventsDelivered();
    expect(waiting.ended()).toBe(false);

    await publisher.publish('patient.example.org', 'stored');
    expect(await waiting.done).toBeLessThan(PROMPT_MS);
  });

  it('is not woken by an event published under another prefix', async () => {
    const otherDeployment = new FetchEventPublisher(publisherRedis, uniquePrefix());
    const waiting = startWaiting(['shared-name.example.org'], LONG_WAIT_MS);
    await otherDeployment.publish('shared-name.example.org', 'stored');
    await eventsDelivered();
    expect(waiting.ended()).toBe(false);

    await publisher.publish('shared-name.example.org', 'stored');
    await waiting.done;
  });

  it('waiting for 3 origins resolves only after all 3 events', async () => {
    const origins = ['one.example.org', 'two.example.org:8448', '[::1]:8448'];
    const waiting = startWaiting(origins, LONG_WAIT_MS);

    await publisher.publish(origins[0], 'stored');
    await publisher.publish(origins[2], 'failed');
    await publisher.publish(origins[0], 'stored'); // the same origin twice does not count twice
    await eventsDelivered();
    expect(waiting.ended()).toBe(false);

    await publisher.publish(origins[1], 'refused');
    expect(await waiting.done).toBeLessThan(PROMPT_MS);
    expect(waiter.pendingOrigins).toBe(0);
  });

  it('wakes every waiter for the same origin with one event', async () => {
    const first = startWaiting(['popular.example.org'], LONG_WAIT_MS);
    const second = startWaiting(['popular.example.org', 'another.example.org'], LONG_WAIT_MS);
    await publisher.publish('popular.example.org', 'stored');
    expect(await first.done).toBeLessThan(PROMPT_MS);
    await eventsDelivered();
    expect(second.ended()).toBe(false);
    await publisher.publish('another.example.org', 'stored');
    expect(await second.done).toBeLessThan(PROMPT_MS);
  });

  it('returns at once for no origins or no time to wait', async () => {
    expect(await startWaiting([], LONG_WAIT_MS).done).toBeLessThan(PROMPT_MS);
    expect(await startWaiting(['now.example.org'], 0).done).toBeLessThan(PROMPT_MS);
    expect(waiter.pendingOrigins).toBe(0);
  });

  it('ignores, without throwing, messages on its channel that are not fetch events', async () => {
    const waiting = startWaiting(['robust.example.org'], LONG_WAIT_MS);
    for (const junk of ['not json', 'null', '42', '"robust.example.org"', '[]', '{}', '{"s":null}']) {
      await publisherRedis.publish(fetchEventsChannel(PREFIX), junk);
    }
    await eventsDelivered();
    expect(waiting.ended()).toBe(false);
    await publisher.publish('robust.example.org', 'stored');
    expect(await waiting.done).toBeLessThan(PROMPT_MS);
  });
});

describe('FetchWaiter.expect', () => {
  it('resolves once every origin had an event or was released, without waiting for the timeout', async () => {
    const started = performance.now();
    const expected = waiter.expect(['rel-a.example.org', 'rel-b.example.org'], LONG_WAIT_MS);
    expected.release('rel-a.example.org');
    await publisher.publish('rel-b.example.org', 'stored');
    await expected.done;
    expect(performance.now() - started).toBeLessThan(PROMPT_MS);
  });

  it('releasing one origin twice counts once', async () => {
    const expected = waiter.expect(['twice-a.example.org', 'twice-b.example.org'], 300);
    expected.release('twice-a.example.org');
    expected.release('twice-a.example.org');
    const started = performance.now();
    await expected.done; // b never comes: only the timeout ends it
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });
});
