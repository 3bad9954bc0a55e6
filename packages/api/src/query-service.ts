/**
 * Answers a key query: one Redis round trip for every origin asked; origins whose stored answer
 * is missing or too old (and that may be contacted now) are fetched through the refresh queue
 * and waited for, up to NOTARY_FETCH_WAIT_MS; the answer is assembled from stored bytes without
 * parsing or signing anything.
 */
import type { Logger } from '@matrix-notary/common';
import type { ExpectedFetches, FetchWaiter, KeyStore, RefreshQueue } from '@matrix-notary/store';
import { HotEntries } from './hot-entries';
import { assembleResponse } from './response';
import type { ServerKeyQuery } from './key-query';
import type { ApiMetrics } from './metrics';
import type { OwnKeysCache } from './own-keys-cache';

export interface QueryServiceDeps {
  serverName: string;
  store: KeyStore;
  queue: RefreshQueue;
  waiter: FetchWaiter;
  ownKeys: OwnKeysCache;
  fetchWaitMs: number;
  logger: Logger;
  metrics: ApiMetrics;
  now?: () => number;
  /** The in-pod copy of hot entries; tests pass a TTL of 0 to always read Redis. */
  hot?: HotEntries;
}

export class QueryService {
  private readonly now: () => number;
  private readonly hot: HotEntries;

  constructor(private readonly deps: QueryServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.hot = deps.hot ?? new HotEntries();
    deps.waiter.onEvent((serverName) => this.hot.forget(serverName));
  }

  async answer(queries: readonly ServerKeyQuery[]): Promise<Buffer> {
    const { deps } = this;
    if (queries.length === 1 && queries[0].serverName !== deps.serverName) {
      // The hottest case: one server, answered from the pod's copy without assembling anything.
      const answer = this.hot.getAnswer(queries[0], this.now());
      if (answer !== undefined) {
        deps.metrics.serverResults.hit.inc();
        return answer;
      }
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
    if (remote.length === 0) return assembleResponse(entries.length === 1 ? entries[0] : entries.flat());

    const results = await deps.store.lookup(remote, lookedUpAt);
    const toFetch: number[] = [];
    const toRefresh: string[] = [];
    results.forEach((r, j) => {
      entries[remoteIndex[j]] = r.entries;
      this.hot.remember(remote[j], r, lookedUpAt);
      // A fetch already in flight (another request's, maybe on another pod) is waited for too:
      // queueing again is harmless (same job ID, or superseded by the fetch that just ended).
      if (r.needFetch && (r.mayFetch || r.fetchInFlight)) toFetch.push(j);
      else if (r.refreshDue) toRefresh.push(remote[j].serverName);
      deps.metrics.serverResults[r.needFetch ? (r.mayFetch || r.fetchInFlight ? 'fetch' : 'stale') : 'hit'].inc();
    });

    if (toRefresh.length > 0) this.requestInBackground(toRefresh, lookedUpAt);
    if (toFetch.length > 0) {
      const fetched = await this.fetchAndWait(toFetch.map((j) => remote[j]), lookedUpAt);
      fetched.forEach((r, k) => {
        entries[remoteIndex[toFetch[k]]] = r.entries;
      });
    }
    return assembleResponse(entries.flat());
  }

  private requestInBackground(serverNames: string[], requestedAt: number): void {
    this.deps.queue.request(serverNames, 'refresh', requestedAt).then(
      (accepted) => this.deps.metrics.refreshRequests.inc({ reason: 'refresh' }, accepted.length),
      (err: Error) => this.deps.logger.warn({ err: err.message }, 'could not queue background key refreshes'),
    );
  }

  private async fetchAndWait(queries: ServerKeyQuery[], requestedAt: number) {
    const { deps } = this;
    const names = queries.map((q) => q.serverName);
    let expected: ExpectedFetches | undefined;
    let queued: string[];
    try {
      // Waiters are registered before the jobs are added, so a fast fetch cannot be missed.
      queued = await deps.queue.enqueue(names, 'miss', requestedAt, (admitted) => {
        expected = deps.waiter.expect(admitted, deps.fetchWaitMs);
      });
    } catch (err) {
      // Nothing (known to be) queued: serve what is stored at once. A registration ends at its timeout.
      deps.logger.warn({ err: (err as Error).message }, 'could not queue key fetches: serving stored keys');
      return deps.store.lookup(queries, this.now());
    }
    if (queued.length < names.length) {
      deps.metrics.refreshRequestsDropped.inc(names.length - queued.length);
      deps.logger.warn({ asked: names.length, queued: queued.length }, 'refresh queue is full: serving stored keys without fetching');
    }
    if (queued.length > 0 && expected !== undefined) {
      deps.metrics.refreshRequests.inc({ reason: 'miss' }, queued.length);
      // A fetch that ended before the waiters were registered (its job not yet removed, so the
      // add was a no-op) sends no further event: count it as done now.
      const ended = await deps.store.endedSince(queued, requestedAt);
      queued.forEach((name, i) => ended[i] && expected!.release(name));
      await expected.done;
    }
    return deps.store.lookup(queries, this.now());
  }
}
