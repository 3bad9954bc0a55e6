/**
 * Answers a key query: one Redis round trip for every origin asked; origins whose stored answer
 * is missing or too old (and that may be contacted now) are fetched through the refresh queue
 * and waited for until the query's deadline (NOTARY_FETCH_WAIT_MS after it arrived, whatever the
 * queue is doing); the answer is assembled from stored bytes without parsing or signing anything.
 *
 * What one client can make the notary do is bounded (DESIGN behaviour 9): origins it holds
 * nothing for are contacted only within the client's new-origin budget; the rest are left out.
 * While Redis cannot be reached, the pod answers from its own copy of recent answers, and with
 * 503 when it has none (behaviour 11).
 */
import { MatrixError, type Logger } from '@matrix-notary/common';
import type { FetchWaiter, KeyStore, LookupAction, LookupResult, RefreshQueue } from '@matrix-notary/store';
import type { Client } from './client-address';
import type { ClientLimits } from './client-limits';
import { HotEntries } from './hot-entries';
import { assembleResponse } from './response';
import { nextTurn, SLICE_SERVERS } from './work-slices';
import type { ServerKeyQuery } from './key-query';
import type { ApiMetrics } from './metrics';
import type { OwnKeysCache } from './own-keys-cache';

/** How each lookup action is counted in matrix_notary_query_servers_total{result}. */
const SERVER_RESULT = { serve: 'hit', fetch: 'fetch', wait: 'fetch', serveStale: 'stale' } as const satisfies Record<LookupAction, 'hit' | 'fetch' | 'stale'>;

/** What a caller is told to wait when the key store is unreachable. */
export const STORE_UNAVAILABLE_RETRY_MS = 5000;
/** At most one log line per this interval about the key store being unreachable. */
const OUTAGE_LOG_INTERVAL_MS = 10_000;

export interface QueryServiceDeps {
  serverName: string;
  store: KeyStore;
  queue: RefreshQueue;
  waiter: FetchWaiter;
  ownKeys: OwnKeysCache;
  limits: ClientLimits;
  /** Whether Redis may be used now; false while it is known to be unreachable. Default: always. */
  storeUsable?: () => Promise<boolean>;
  logger: Logger;
  metrics: ApiMetrics;
  now?: () => number;
  /** The in-pod copy of recent answers; default: a HotEntries keeping each for HOT_ENTRY_TTL_MS. */
  hot?: HotEntries;
}

export class QueryService {
  private readonly now: () => number;
  private readonly hot: HotEntries;
  private lastOutageLog = 0;

  constructor(private readonly deps: QueryServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.hot = deps.hot ?? new HotEntries();
    deps.waiter.onEvent((serverName) => this.hot.forget(serverName));
  }

  /**
   * The hottest case, synchronously: one server the pod has a fresh copy of, answered without
   * assembling anything (and without a promise). Undefined when answer() must be asked.
   */
  answerFromPod(q: ServerKeyQuery): Buffer | undefined {
    if (q.serverName === this.deps.serverName) return undefined;
    const answer = this.hot.getAnswer(q, this.now());
    if (answer !== undefined) this.deps.metrics.serverResults.hit.inc();
    return answer;
  }

  /**
   * The answer to `queries` from `client`, ready to send. `deadlineMs` (epoch ms) is when the
   * answer must be on its way: fetches still running then are not waited for.
   */
  async answer(queries: readonly ServerKeyQuery[], client: Client, deadlineMs: number): Promise<Buffer> {
    const { deps } = this;
    if (queries.length === 1) {
      const answer = this.answerFromPod(queries[0]);
      if (answer !== undefined) return answer;
    }
    const entries: Buffer[][] = new Array(queries.length);
    const remote: ServerKeyQuery[] = [];
    const remoteIndex: number[] = [];
    const lookedUpAt = this.now();
    for (let i = 0; i < queries.length; i++) {
      const q = queries[i];
      if (q.serverName === deps.serverName) {
        entries[i] = [deps.ownKeys.current() ?? (await deps.ownKeys.get())];
        continue;
      }
      const hot = this.hot.get(q, lookedUpAt);
      if (hot !== undefined) {
        entries[i] = hot;
        deps.metrics.serverResults.hit.inc();
      } else {
        remote.push(q);
        remoteIndex.push(i);
      }
    }
    if (remote.length === 0) return assembleResponse(entries);

    let results: LookupResult[];
    try {
      if (deps.storeUsable && !(await deps.storeUsable())) throw new Error('the connection to Redis is down');
      results = await this.lookupInSlices(remote, lookedUpAt);
    } catch (err) {
      return this.answerWithoutStore(entries, remote, remoteIndex, err);
    }
    const toFetch: number[] = [];
    const newOrigins: number[] = [];
    const toRefresh: string[] = [];
    results.forEach((r, j) => {
      entries[remoteIndex[j]] = r.entries;
      this.hot.remember(remote[j], r, lookedUpAt);
      switch (r.action) {
        case 'serve':
          if (r.refreshDue) toRefresh.push(remote[j].serverName);
          break;
        case 'fetch':
          // Contacting an origin the notary holds nothing for is what the client's budget counts.
          if (r.entries.length === 0) newOrigins.push(j);
          else toFetch.push(j);
          break;
        case 'wait':
          // A fetch in flight (another request's, maybe on another pod) is waited for like our own:
          // queueing again is harmless (same job ID, or superseded by the fetch that just ended).
          toFetch.push(j);
          break;
        case 'serveStale':
          break;
      }
      deps.metrics.serverResults[SERVER_RESULT[r.action]].inc();
    });

    if (toRefresh.length > 0) this.requestInBackground(toRefresh, lookedUpAt);
    if (newOrigins.length > 0) {
      const admitted = await deps.limits.admitNewOrigins(client, newOrigins.length);
      toFetch.push(...newOrigins.slice(0, admitted));
      if (admitted < newOrigins.length) deps.metrics.originsNotFetched.clientBudget.inc(newOrigins.length - admitted);
    }
    if (toFetch.length > 0) {
      const fetchQueries = toFetch.map((j) => remote[j]);
      let fetched: LookupResult[];
      try {
        fetched = await this.fetchAndWait(fetchQueries, lookedUpAt, deadlineMs);
      } catch (err) {
        return this.answerWithoutStore(entries, remote, remoteIndex, err);
      }
      fetched.forEach((r, k) => {
        entries[remoteIndex[toFetch[k]]] = r.entries;
        this.hot.remember(fetchQueries[k], r, lookedUpAt);
      });
    }
    return assembleResponse(entries);
  }

  private requestInBackground(serverNames: string[], requestedAt: number): void {
    this.deps.queue.enqueue(serverNames, 'refresh', requestedAt).then(
      (accepted) => this.deps.metrics.refreshRequests.inc({ reason: 'refresh' }, accepted.length),
      (err: Error) => this.deps.logger.warn({ err: err.message }, 'could not queue background key refreshes'),
    );
  }

  /**
   * Queues fetches of `queries` and waits for them until `deadlineMs` at the latest, then reads
   * what is stored. Queueing runs beside the wait, never before it: however long admission into
   * a busy queue takes, the answer goes out at the deadline.
   */
  private async fetchAndWait(queries: ServerKeyQuery[], requestedAt: number, deadlineMs: number): Promise<LookupResult[]> {
    const { deps } = this;
    const names = queries.map((q) => q.serverName);
    // Waiters first, so a fetch that ends before the job is even added cannot be missed.
    const expected = deps.waiter.expect(names, deadlineMs - this.now());
    const queuedThenChecked = async (queued: string[]): Promise<void> => {
      if (queued.length < names.length) {
        deps.metrics.originsNotFetched.queueFull.inc(names.length - queued.length);
        deps.logger.warn({ asked: names.length, queued: queued.length }, 'refresh queue is full: serving stored keys without fetching');
        const admitted = new Set(queued);
        for (const name of names) if (!admitted.has(name)) expected.release(name);
      }
      deps.metrics.refreshRequests.inc({ reason: 'miss' }, queued.length);
      // A fetch that ended before the waiters were registered (its job not yet removed, so the
      // add was a no-op) sends no further event: count it as done now.
      const ended = await deps.store.endedSince(queued, requestedAt);
      queued.forEach((name, i) => ended[i] && expected.release(name));
    };
    deps.queue
      .enqueue(names, 'miss', requestedAt)
      .then(queuedThenChecked, (err: Error) => {
        // Nothing (known to be) queued: stop waiting, serve what is stored.
        deps.logger.warn({ err: err.message }, 'could not queue key fetches: serving stored keys');
        for (const name of names) expected.release(name);
      })
      // Redis went away during the check: the wait simply ends at the deadline.
      .catch((err: Error) => deps.logger.debug({ err: err.message }, 'could not check for fetches that ended before the wait'));
    await expected.done;
    return this.lookupInSlices(queries, this.now());
  }

  /** One lookup per slice of SLICE_SERVERS servers: other requests are served between two. */
  private async lookupInSlices(queries: readonly ServerKeyQuery[], nowMs: number): Promise<LookupResult[]> {
    if (queries.length <= SLICE_SERVERS) return this.deps.store.lookup(queries, nowMs);
    const results: LookupResult[] = [];
    for (let i = 0; i < queries.length; i += SLICE_SERVERS) {
      if (i > 0) await nextTurn();
      for (const r of await this.deps.store.lookup(queries.slice(i, i + SLICE_SERVERS), nowMs)) results.push(r);
    }
    return results;
  }

  /**
   * Redis is unreachable: each server the pod has a recent copy of is answered from it; with no
   * copy of any of them, 503 and when to try again (never a 500: nothing is wrong with the request).
   */
  private answerWithoutStore(entries: Buffer[][], remote: ServerKeyQuery[], remoteIndex: number[], err: unknown): Buffer {
    const { deps } = this;
    const now = this.now();
    if (now - this.lastOutageLog >= OUTAGE_LOG_INTERVAL_MS) {
      this.lastOutageLog = now;
      deps.logger.warn({ err: (err as Error)?.message }, 'the key store (Redis) cannot be reached: answering from this pod\'s copy of recent answers');
    }
    remote.forEach((q, j) => {
      entries[remoteIndex[j]] = this.hot.lastKnown(q) ?? [];
    });
    // Servers answered before the store failed (from the pod's fresh copy) count as answers too.
    if (entries.every((e) => e === undefined || e.length === 0)) {
      deps.metrics.degradedAnswers.unavailable.inc();
      throw new MatrixError(503, 'M_UNKNOWN', 'the key store is unreachable and this server holds no copy of these keys: try again shortly', {
        retry_after_ms: STORE_UNAVAILABLE_RETRY_MS,
      });
    }
    deps.metrics.degradedAnswers.podCopy.inc();
    return assembleResponse(entries);
  }
}
