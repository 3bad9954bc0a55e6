/**
 * The notary's Redis model for origin responses, rate limits and backoff. Every operation is one
 * Lua script on one origin's record, so reads and writes that belong together are never split.
 */
import { KEY_VALIDITY_CAP_MS } from '@matrix-notary/protocol';
import { originRecordKey } from './keys';
import type { RedisClient } from './redis';
import { registerScripts } from './scripts';

export interface OriginQuery {
  serverName: string;
  /** Key IDs asked for; empty means every key. */
  keyIds: readonly string[];
  minValidUntilTs: number;
}

export interface LookupResult {
  /** The stored answer is missing, too old for the query, or lacks a key asked for. */
  needFetch: boolean;
  /** The origin may be contacted now (minimum interval and backoff have passed). */
  mayFetch: boolean;
  /** A worker is fetching the origin right now: a caller that needs a fetch waits for this one. */
  fetchInFlight: boolean;
  /** A background refresh is due (half-lifetime or 7-day rule), and this caller is to ask for it. */
  refreshDue: boolean;
  /** valid_until_ts of the latest stored response, when there is one. */
  validUntilTs?: number;
  /** Countersigned response bytes to serve, each at most once: older responses holding asked-for keys the latest lacks, then the latest. */
  entries: Buffer[];
}

export interface KeyStoreOptions {
  prefix: string;
  /** Least time between two background refresh requests for one origin. */
  refreshRequestIntervalMs?: number;
  /**
   * Least lifetime of a record that never held a response (it carries only backoff state, and is
   * kept as long as that matters: the claim's lease plus the interval, or twice the backoff).
   */
  emptyRecordTtlMs?: number;
}

/** How long a claimed fetch counts as in flight when the caller gives no lease. */
export const DEFAULT_FETCH_LEASE_MS = 30_000;

export interface FetchClaim {
  allowed: boolean;
  /** A fetch ended after this one was asked for: its result already answers the request. */
  superseded: boolean;
  waitMs: number;
}

export class KeyStore {
  private readonly prefix: string;
  private readonly refreshRequestIntervalMs: number;
  private readonly emptyRecordTtlMs: number;

  constructor(
    private readonly redis: RedisClient,
    opts: KeyStoreOptions,
  ) {
    registerScripts(redis);
    this.prefix = opts.prefix;
    this.refreshRequestIntervalMs = opts.refreshRequestIntervalMs ?? 60_000;
    this.emptyRecordTtlMs = opts.emptyRecordTtlMs ?? 60_000;
  }

  private key(serverName: string): string {
    return originRecordKey(this.prefix, serverName);
  }

  /**
   * Looks up many origins: one HMGET of fixed fields per origin, all sent in one tick (the
   * connection's auto-pipelining makes that one round trip per Redis node), a second only for the
   * rare origin whose asked-for keys live in older responses, and a tiny script only for the rare
   * caller elected to ask for a background refresh.
   *
   * Reads of several origins are per-command calls gathered with Promise.all, never an explicit
   * pipeline(): on a Redis Cluster the origins live on different nodes, and an ioredis cluster
   * pipeline must stay within one node.
   */
  async lookup(queries: readonly OriginQuery[], nowMs: number, retries = 2): Promise<LookupResult[]> {
    if (queries.length === 0) return [];
    const replies = await Promise.all(
      queries.map((q) => this.redis.hmgetBuffer(this.key(q.serverName), ...LOOKUP_FIELDS, ...keyFields(q.keyIds))),
    );
    const judged = replies.map((reply, i) => judge(queries[i], reply, nowMs, this.refreshRequestIntervalMs));
    if (judged.some((j) => j.olderIds.length > 0 || j.refreshCandidate)) {
      const [raced] = await Promise.all([this.addOlderEntries(queries, judged), this.electRefreshers(queries, judged, nowMs)]);
      // A store between the two reads may have removed an older response: read those origins again.
      if (raced.length > 0 && retries > 0) {
        const again = await this.lookup(raced.map((i) => queries[i]), nowMs, retries - 1);
        raced.forEach((i, k) => (judged[i].result = again[k]));
      }
    }
    return judged.map((j) => j.result);
  }

  /** Returns the indexes of origins whose older responses changed between the two reads. */
  private async addOlderEntries(queries: readonly OriginQuery[], judged: Judged[]): Promise<number[]> {
    const wanted = judged.map((j, i) => [i, j.olderIds] as const).filter(([, ids]) => ids.length > 0);
    if (wanted.length === 0) return [];
    const raced: number[] = [];
    const replies = await Promise.all(
      wanted.map(([i, ids]) => this.redis.hmgetBuffer(this.key(queries[i].serverName), ...ids.map((id) => `r:${id}`))),
    );
    wanted.forEach(([i], k) => {
      const replies_ = replies[k];
      if (replies_.includes(null)) raced.push(i);
      const older = replies_.filter((b): b is Buffer => b !== null);
      // Older responses holding asked-for keys come first, the latest last (as Synapse and sytest
      // expect: the first entry answers the key asked for).
      judged[i].result.entries = [...older, ...judged[i].result.entries];
    });
    return raced;
  }

  private async electRefreshers(queries: readonly OriginQuery[], judged: Judged[], nowMs: number): Promise<void> {
    const candidates = judged.map((j, i) => [i, j.refreshCandidate] as const).filter(([, c]) => c);
    if (candidates.length === 0) return;
    const elected = await Promise.all(
      candidates.map(([i]) => this.redis.notaryMarkRefresh(this.key(queries[i].serverName), nowMs, this.refreshRequestIntervalMs)),
    );
    candidates.forEach(([i], k) => {
      judged[i].result.refreshDue = elected[k] === 1;
    });
  }

  /** For each origin: has a fetch ended (stored or failed) at or after `sinceMs`? */
  async endedSince(serverNames: readonly string[], sinceMs: number): Promise<boolean[]> {
    if (serverNames.length === 0) return [];
    const replies = await Promise.all(serverNames.map((name) => this.redis.hmget(this.key(name), 'fetched', 'failed')));
    return replies.map(([fetched, failed]) => Number(fetched ?? 0) >= sinceMs || Number(failed ?? 0) >= sinceMs);
  }

  /**
   * `requestedAtMs`: when the fetch was asked for; without it, the claim is never superseded.
   * `leaseMs`: how long the fetch may take; lookups see it in flight until then or its outcome.
   */
  async claimFetch(
    serverName: string,
    nowMs: number,
    minIntervalMs: number,
    requestedAtMs = Number.MAX_SAFE_INTEGER,
    leaseMs = DEFAULT_FETCH_LEASE_MS,
  ): Promise<FetchClaim> {
    const [verdict, waitMs] = await this.redis.notaryClaimFetch(
      this.key(serverName),
      nowMs,
      minIntervalMs,
      this.emptyRecordTtlMs + leaseMs + minIntervalMs,
      requestedAtMs,
      leaseMs,
    );
    return { allowed: verdict === 1, superseded: verdict === 2, waitMs };
  }

  async recordFailure(
    serverName: string,
    nowMs: number,
    minIntervalMs: number,
    maxBackoffMs: number,
  ): Promise<{ failures: number; waitMs: number }> {
    const [failures, waitMs] = await this.redis.notaryRecordFailure(
      this.key(serverName),
      nowMs,
      minIntervalMs,
      maxBackoffMs,
      this.emptyRecordTtlMs,
    );
    return { failures, waitMs };
  }

  /** Stores countersigned bytes as the origin's latest response; returns the response's ID. */
  async storeResponse(
    serverName: string,
    countersigned: Buffer,
    validUntilTs: number,
    keyIds: readonly string[],
    nowMs: number,
    minIntervalMs: number,
  ): Promise<string> {
    return this.redis.notaryStoreResponse(this.key(serverName), nowMs, countersigned, validUntilTs, minIntervalMs, ...keyIds);
  }
}

/** Fixed fields read for every lookup; the asked-for key IDs' fields follow them. */
const LOOKUP_FIELDS = ['latest', 'lb', 'lv', 'next', 'fetched', 'rq', 'busy'] as const;

function keyFields(keyIds: readonly string[]): string[] {
  return keyIds.map((k) => `k:${k}`);
}

function num(value: Buffer | null): number {
  return value === null ? 0 : Number(value.toString('latin1'));
}

interface Judged {
  result: LookupResult;
  /** IDs of older responses holding asked-for keys the latest lacks. */
  olderIds: string[];
  /** A background refresh is due, if this caller wins the election for it. */
  refreshCandidate: boolean;
}

/** Decides, from one origin's fields, what to serve and whether a fetch is needed or due. */
function judge(q: OriginQuery, reply: (Buffer | null)[], nowMs: number, refreshRequestIntervalMs: number): Judged {
  const [latest, latestBytes, latestValid, next, fetched, asked, busy] = reply;
  const mayFetch = nowMs >= num(next);
  const fetchInFlight = num(busy) > nowMs;
  if (latest === null || latestBytes === null) {
    return { result: { needFetch: true, mayFetch, fetchInFlight, refreshDue: false, entries: [] }, olderIds: [], refreshCandidate: false };
  }
  const latestId = latest.toString('latin1');
  const validUntil = num(latestValid);
  let needFetch = validUntil < q.minValidUntilTs;
  const olderIds: string[] = [];
  for (let i = LOOKUP_FIELDS.length; i < reply.length; i++) {
    const holder = reply[i];
    if (holder === null) {
      needFetch = true; // a key the notary has never seen: the origin may have rotated to it
      continue;
    }
    const id = holder.toString('latin1');
    if (id !== latestId && !olderIds.includes(id)) olderIds.push(id);
  }
  let refreshCandidate = false;
  if (!needFetch && mayFetch) {
    // Refresh at half the remaining lifetime seen at fetch time, and at least every 7 days.
    const fetchedAt = num(fetched);
    const period = Math.min(Math.floor((validUntil - fetchedAt) / 2), KEY_VALIDITY_CAP_MS);
    refreshCandidate = nowMs >= fetchedAt + period && nowMs - num(asked) >= refreshRequestIntervalMs;
  }
  return {
    result: { needFetch, mayFetch, fetchInFlight, refreshDue: false, entries: [latestBytes], validUntilTs: validUntil },
    olderIds,
    refreshCandidate,
  };
}
