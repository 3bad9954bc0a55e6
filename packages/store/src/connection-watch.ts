/**
 * Whether a connection can be used now, for the query path (DESIGN behaviour 11). While Redis is
 * unreachable a pod must answer from its own copy or with 503 at once, not queue every query
 * behind reconnect attempts; but a Sentinel failover or a restart of a second or less must cost
 * no failed query. So: a connection that is up is used; one that just went down is waited for,
 * up to `graceMs` from when it went down; one down for longer is not waited for at all.
 *
 * (A command timeout would do the first part, but it also fails commands that are merely slow:
 * a pod busy with a flood took more than a second to read a 5,000-origin lookup's replies, and
 * answered a query it could have answered with 503.)
 */
import type { RedisClient } from './redis';

export const OUTAGE_GRACE_MS = 1000;

export class ConnectionWatch {
  private downSince: number | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly client: RedisClient,
    private readonly graceMs = OUTAGE_GRACE_MS,
    private readonly now: () => number = Date.now,
  ) {
    const down = () => (this.downSince ??= this.now());
    client.on('close', down);
    client.on('end', down);
    client.on('ready', () => {
      this.downSince = undefined;
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    });
    if (client.status !== 'ready') this.downSince = this.now();
  }

  /** True when the connection is up, or comes up within the grace left of this outage. */
  async usable(): Promise<boolean> {
    if (this.client.status === 'ready') return true;
    const left = (this.downSince ?? this.now()) + this.graceMs - this.now();
    if (left <= 0) return false;
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        resolve(this.client.status === 'ready');
      }, left);
      this.waiters.add(wake);
    });
  }
}
