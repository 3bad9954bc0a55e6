/**
 * The BullMQ queue of origin refreshes, as the api adds to it and the workers' gauges read it (the
 * workers consume it with a BullMQ Worker on the same name and prefix). The job ID is the
 * (encoded) server name, so while a job for an origin waits or runs, asking again adds nothing:
 * one fetch per origin across the cluster.
 */
import { Queue } from 'bullmq';
import { refreshJobId } from './keys';
import type { RedisClient } from './redis';

export const REFRESH_QUEUE_NAME = 'refresh';

export type RefreshReason = 'miss' | 'refresh';

export interface RefreshJobData {
  serverName: string;
  reason: RefreshReason;
  /** When the fetch was asked for (ms): a fetch that ended after it already answers it. */
  requestedAt: number;
  /** Base64 of an origin response fetched by an earlier attempt that the signer could not countersign. */
  kept?: string;
}

/**
 * BullMQ's key prefix. Its scripts touch many keys of a queue at once, so on a Redis Cluster they
 * must all hash to one slot: the braces make `prefix` the hash tag of every queue key, and keys
 * still start with `prefix:` like every other key of the deployment.
 */
export function bullPrefix(prefix: string): string {
  return `${prefix}:bull:{${prefix}}`;
}

export interface RefreshQueueOptions {
  prefix: string;
  /**
   * Refuse new jobs while this many wait: a flood of queries must not grow the queue unbounded.
   * 0 for a handle that only reads the queue.
   */
  maxWaitingJobs: number;
}

export interface RefreshQueueCounts {
  waiting: number;
  active: number;
  delayed: number;
}

export class RefreshQueue {
  private readonly queue: Queue<RefreshJobData>;
  /** Admissions on this pod run one at a time, so concurrent queries cannot all see room. */
  private admissions: Promise<unknown> = Promise.resolve();

  constructor(
    connection: RedisClient,
    private readonly opts: RefreshQueueOptions,
  ) {
    this.queue = new Queue<RefreshJobData>(REFRESH_QUEUE_NAME, {
      connection,
      prefix: bullPrefix(opts.prefix),
      // Attempts after the first are for a signer outage (the job keeps what it fetched and waits
      // for the signer): every 2 s for about a minute.
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 30, backoff: { type: 'fixed', delay: 2000 } },
    });
  }

  /** The origins that may be queued now: as many as the bound on waiting jobs leaves room for. */
  private async admit(serverNames: readonly string[]): Promise<string[]> {
    if (serverNames.length === 0) return [];
    const waiting = await this.queue.getWaitingCount();
    return serverNames.slice(0, Math.max(0, this.opts.maxWaitingJobs - waiting));
  }

  /**
   * Queues a fetch of each origin (no-op for one already queued or running). `requestedAt` is
   * when the caller saw the need, before it looked up the store: a fetch that ended after that
   * already answers it, so a job added just after another one finished fetches nothing.
   */
  private async add(serverNames: readonly string[], reason: RefreshReason, requestedAt: number): Promise<void> {
    if (serverNames.length === 0) return;
    await this.queue.addBulk(
      serverNames.map((serverName) => ({
        name: reason,
        data: { serverName, reason, requestedAt },
        opts: { jobId: refreshJobId(serverName) },
      })),
    );
  }

  /**
   * Admits and queues in one step, one such step at a time on this pod (across pods the bound can
   * be passed by at most one query's servers per pod). Returns the origins queued.
   */
  enqueue(serverNames: readonly string[], reason: RefreshReason, requestedAt: number): Promise<string[]> {
    const step = this.admissions.then(async () => {
      const admitted = await this.admit(serverNames);
      await this.add(admitted, reason, requestedAt);
      return admitted;
    });
    this.admissions = step.catch(() => undefined);
    return step;
  }

  /**
   * Errors of the queue's connection, as BullMQ relays them (they are also the connection's own:
   * see RedisConnections.watchBullmq). Without a listener, BullMQ would throw them.
   */
  on(event: 'error', listener: (err: Error) => void): this {
    this.queue.on(event, listener);
    return this;
  }

  /** Jobs by state, across the cluster. */
  async counts(): Promise<RefreshQueueCounts> {
    const c = await this.queue.getJobCounts('waiting', 'active', 'delayed');
    return { waiting: c.waiting ?? 0, active: c.active ?? 0, delayed: c.delayed ?? 0 };
  }

  /** When the oldest waiting job was added (ms since the epoch, BullMQ's clock), or undefined when none waits. */
  async oldestWaitingSince(): Promise<number | undefined> {
    return (await this.queue.getJobs(['waiting'], 0, 0, true))[0]?.timestamp;
  }

  /** Holds every worker off the queue until resume() (the refresh benchmark fills it first). */
  async pause(): Promise<void> {
    await this.queue.pause();
  }

  async resume(): Promise<void> {
    await this.queue.resume();
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
