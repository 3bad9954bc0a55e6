/**
 * Tells api pods that a fetch for an origin has ended (stored, refused, failed or skipped), so a
 * query waiting for it can answer at once. Redis pub/sub: one subscriber connection per pod.
 *
 * On a Redis Cluster this is plain PUBLISH/SUBSCRIBE, not the sharded SPUBLISH/SSUBSCRIBE: there
 * is one channel, so sharding would put all of it on one shard anyway and gain nothing; a plain
 * PUBLISH reaches subscribers on every node (the cluster bus carries it), so the subscriber may
 * sit on any node and ioredis moves it to another when that node fails; and the traffic is one
 * small message per origin fetch, which the bus carries easily. An event lost while a subscriber
 * reconnects costs a waiting query its wait (NOTARY_FETCH_WAIT_MS), never a wrong answer.
 */
import type { RedisClient } from './redis';
import { fetchEventsChannel } from './keys';

export type FetchOutcome = 'stored' | 'refused' | 'failed' | 'skipped';

interface FetchEvent {
  s: string;
  o: FetchOutcome;
}

export class FetchEventPublisher {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async publish(serverName: string, outcome: FetchOutcome): Promise<void> {
    const event: FetchEvent = { s: serverName, o: outcome };
    await this.redis.publish(fetchEventsChannel(this.prefix), JSON.stringify(event));
  }
}

/** Fetches a caller waits for: `done` resolves when each has ended or been released, or at the timeout. */
export interface ExpectedFetches {
  done: Promise<void>;
  release(serverName: string): void;
}

export type FetchEventListener = (serverName: string, outcome: FetchOutcome) => void;

/** How a wait's timeout is set: real timers, unless a test fires them by hand. */
export interface WaitTimers {
  set(fire: () => void, ms: number): unknown;
  clear(timer: unknown): void;
}

const REAL_TIMERS: WaitTimers = {
  set: (fire, ms) => setTimeout(fire, ms),
  clear: (timer) => clearTimeout(timer as NodeJS.Timeout),
};

/** Waits for fetch events. Owns its subscriber connection (one in subscribe mode can do nothing else). */
export class FetchWaiter {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly listeners: FetchEventListener[] = [];
  private readonly ready: Promise<unknown>;

  constructor(
    private readonly subscriber: RedisClient,
    prefix: string,
    private readonly timers: WaitTimers = REAL_TIMERS,
  ) {
    const channel = fetchEventsChannel(prefix);
    this.subscriber.on('message', (ch: string, message: string) => {
      if (ch !== channel) return;
      let event: FetchEvent | null;
      try {
        event = JSON.parse(message) as FetchEvent | null;
      } catch {
        return;
      }
      // Not a fetch event (`null` would throw here, inside ioredis's socket handler): ignore it.
      if (typeof event?.s !== 'string') return;
      // Listeners first (e.g. dropping an in-pod copy), so a woken query sees the new state.
      for (const listener of this.listeners) listener(event.s, event.o);
      const set = this.waiters.get(event.s);
      if (!set) return;
      this.waiters.delete(event.s);
      for (const wake of set) wake();
    });
    this.ready = this.subscriber.subscribe(channel);
  }

  /** Calls `listener` for every fetch event, before any waiter for that origin is woken. */
  onEvent(listener: FetchEventListener): void {
    this.listeners.push(listener);
  }

  /** Resolves when the subscription is active (so no event published afterwards is missed). */
  async start(): Promise<void> {
    await this.ready;
  }

  /** Resolves when every named origin has had a fetch event, or when timeoutMs has passed. */
  async waitFor(serverNames: readonly string[], timeoutMs: number): Promise<void> {
    await this.expect(serverNames, timeoutMs).done;
  }

  /**
   * Like waitFor, registered at once; `release(name)` counts an origin as done without an event
   * (its fetch is known to have ended already, e.g. before this registration).
   */
  expect(serverNames: readonly string[], timeoutMs: number): ExpectedFetches {
    if (serverNames.length === 0 || timeoutMs <= 0) return { done: Promise.resolve(), release: () => undefined };
    let remaining = 0;
    let timer: unknown;
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const wakers = new Map<string, () => void>();
    const finish = () => {
      if (timer !== undefined) this.timers.clear(timer);
      for (const [name, wake] of wakers) {
        const set = this.waiters.get(name);
        set?.delete(wake);
        if (set?.size === 0) this.waiters.delete(name);
      }
      wakers.clear();
      resolveDone();
    };
    for (const name of new Set(serverNames)) {
      let woken = false;
      const wake = () => {
        if (woken) return;
        woken = true;
        if (--remaining === 0) finish();
      };
      remaining++;
      wakers.set(name, wake);
      let set = this.waiters.get(name);
      if (!set) this.waiters.set(name, (set = new Set()));
      set.add(wake);
    }
    timer = this.timers.set(finish, timeoutMs);
    return { done, release: (name) => wakers.get(name)?.() };
  }

  get pendingOrigins(): number {
    return this.waiters.size;
  }

  async close(): Promise<void> {
    this.subscriber.disconnect();
  }
}
