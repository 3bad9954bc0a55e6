/**
 * FetchEventPublisher / FetchWaiter: a query waiting for a fetch (DESIGN behaviour 2, "waits up to
 * NOTARY_FETCH_WAIT_MS") answers as soon as the fetch ends, or after the wait when it does not.
 *
 * The waiter's timeouts are fired by the test (ManualTimers), so "woken by the event" and "ended
 * by the timeout" are told apart without timing anything: a timeout never fires by itself here.
 */
import type Redis from 'ioredis';
import { createRedis, FetchEventPublisher, fetchEventsChannel, FetchWaiter, type WaitTimers } from '@matrix-notary/store';
import { testRedisUrl, uniquePrefix } from './redis-test-helpers';

// Pub/sub channels are not keys: nothing is left in Redis to delete after these tests.
const PREFIX = uniquePrefix();
const LONG_WAIT_MS = 10_000;

/** Timeouts that fire only when the test says so. */
class ManualTimers implements WaitTimers {
  private readonly pending = new Map<number, { fire: () => void; ms: number }>();
  private last = 0;

  set(fire: () => void, ms: number): number {
    this.pending.set(++this.last, { fire, ms });
    return this.last;
  }

  clear(timer: unknown): void {
    this.pending.delete(timer as number);
  }

  /** The durations of the timeouts set and not yet cleared or fired. */
  get scheduled(): number[] {
    return [...this.pending.values()].map((t) => t.ms);
  }

  fireAll(): void {
    const due = [...this.pending.values()];
    this.pending.clear();
    for (const t of due) t.fire();
  }
}

const timers = new ManualTimers();
let publisherRedis: Redis;
let publisher: FetchEventPublisher;
let waiter: FetchWaiter;

beforeAll(async () => {
  publisherRedis = createRedis(testRedisUrl(), { connectionName: 'store-test-fetch-events-pub' });
  publisher = new FetchEventPublisher(publisherRedis, PREFIX);
  waiter = new FetchWaiter(createRedis(testRedisUrl(), { blocking: true, connectionName: 'store-test-fetch-events-sub' }), PREFIX, timers);
  await waiter.start();
});

afterEach(() => {
  timers.fireAll(); // ends whatever a failed test left waiting
});

afterAll(async () => {
  await waiter.close();
  await publisherRedis.quit();
});

/** Starts waitFor and reports whether it has ended, without awaiting it. */
function startWaiting(serverNames: string[], timeoutMs: number): { done: Promise<void>; ended: () => boolean } {
  let ended = false;
  const done = waiter.waitFor(serverNames, timeoutMs).then(() => {
    ended = true;
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
  await done;
}

describe('FetchWaiter.waitFor', () => {
  it('resolves when a fetch event is published for the origin, and drops its timeout', async () => {
    const { done } = startWaiting(['stored.example.org'], LONG_WAIT_MS);
    expect(timers.scheduled).toEqual([LONG_WAIT_MS]);
    await publisher.publish('stored.example.org', 'stored');
    await done; // no timeout fires here: only the event can end it
    expect(waiter.pendingOrigins).toBe(0);
    expect(timers.scheduled).toEqual([]);
  });

  it.each(['refused', 'failed', 'skipped'] as const)('is woken by a "%s" event too', async (outcome) => {
    const { done } = startWaiting([`${outcome}.example.org:8448`], LONG_WAIT_MS);
    await publisher.publish(`${outcome}.example.org:8448`, outcome);
    await done;
  });

  it('resolves after the timeout when no event comes, and forgets the origin', async () => {
    const timeoutMs = 300;
    const waiting = startWaiting(['silent.example.org'], timeoutMs);
    expect(timers.scheduled).toEqual([timeoutMs]);
    await eventsDelivered();
    expect(waiting.ended()).toBe(false);
    timers.fireAll();
    await waiting.done;
    expect(waiter.pendingOrigins).toBe(0);
  });

  it('is not woken by an event for another origin', async () => {
    const waiting = startWaiting(['patient.example.org'], LONG_WAIT_MS);
    await publisher.publish('other.example.org', 'stored');
    await eventsDelivered();
    expect(waiting.ended()).toBe(false);

    await publisher.publish('patient.example.org', 'stored');
    await waiting.done;
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
    await waiting.done;
    expect(waiter.pendingOrigins).toBe(0);
  });

  it('wakes every waiter for the same origin with one event', async () => {
    const first = startWaiting(['popular.example.org'], LONG_WAIT_MS);
    const second = startWaiting(['popular.example.org', 'another.example.org'], LONG_WAIT_MS);
    await publisher.publish('popular.example.org', 'stored');
    await first.done;
    await eventsDelivered();
    expect(second.ended()).toBe(false);
    await publisher.publish('another.example.org', 'stored');
    await second.done;
  });

  it('returns at once, setting no timeout, for no origins or no time to wait', async () => {
    await startWaiting([], LONG_WAIT_MS).done;
    await startWaiting(['now.example.org'], 0).done;
    expect(timers.scheduled).toEqual([]);
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
    await waiting.done;
  });
});

describe('FetchWaiter.expect', () => {
  it('resolves once every origin had an event or was released, without waiting for the timeout', async () => {
    const expected = waiter.expect(['rel-a.example.org', 'rel-b.example.org'], LONG_WAIT_MS);
    expected.release('rel-a.example.org');
    await publisher.publish('rel-b.example.org', 'stored');
    await expected.done;
    expect(timers.scheduled).toEqual([]); // its timeout dropped, never fired
  });

  it('releasing one origin twice counts once', async () => {
    const expected = waiter.expect(['twice-a.example.org', 'twice-b.example.org'], 300);
    let ended = false;
    void expected.done.then(() => (ended = true));
    expected.release('twice-a.example.org');
    expected.release('twice-a.example.org');
    await eventsDelivered();
    expect(ended).toBe(false); // b never comes: only the timeout ends it
    timers.fireAll();
    await expected.done;
  });
});
