/**
 * The notary's Redis model for origin responses, rate limits and backoff. Every operation is one
 * Lua script on one origin's record, so reads and writes that belong together are never split.
 */
import type Redis from 'ioredis';
import { KEY_VALIDITY_CAP_MS } from '@matrix-notary/protocol';
import { originRecordKey } from './keys';
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
  /** A background refresh is due (half-lifetime or 7-day rule), and this caller is to ask for it. */
  refreshDue: boolean;
  /** Countersigned response bytes to serve, each at most once: older responses holding asked-for keys the latest lacks, then the latest. */
  entries: Buffer[];
}

export interface KeyStoreOptions {
  prefix: string;
  /** Least time between two background refresh requests for one origin. */
  refreshRequestIntervalMs?: number;
  /** How long a record that never held a response is kept (it carries only backoff state). */
  emptyRecordTtlMs?: number;
}

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
    private readonly redis: Redis,
    opts: KeyStoreOptions,
  ) {
    registerScripts(redis);
    this.prefix = opts.prefix;
    this.refreshRequestIntervalMs = opts.refreshRequestIntervalMs ?? 60_000;
    this.emptyRecordTtlMs = opts.emptyRecordTtlMs ?? 24 * 60 * 60 * 1000;
  }

  private key(serverName: string): string {
    return originRecordKey(this.prefix, serverName);
  }

  private lookupArgs(q: OriginQuery, nowMs: number): (string | number)[] {
    return [nowMs, q.minValidUntilTs, this.refreshRequestIntervalMs, KEY_VALIDITY_CAP_MS, ...q.keyIds];
  }

  /** Looks up many origins in one round trip. */
  async lookup(queries: readonly OriginQuery[], nowMs: number): Promise<LookupResult[]> {
    if (queries.length === 0) return [];
    if (queries.length === 1) {
      const q = queries[0];
      return [toLookupResult(await this.redis.notaryLookupBuffer(this.key(q.serverName), ...this.lookupArgs(q, nowMs)))];
    }
    const pipeline = this.redis.pipeline();
    for (const q of queries) pipeline.notaryLookupBuffer(this.key(q.serverName), ...this.lookupArgs(q, nowMs));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, reply]) => {
      if (err) throw err;
      return toLookupResult(reply as (Buffer | number)[]);
    });
  }

  /** `requestedAtMs`: when the fetch was asked for; without it, the claim is never superseded. */
  async claimFetch(
    serverName: string,
    nowMs: number,
    minIntervalMs: number,
    requestedAtMs = Number.MAX_SAFE_INTEGER,
  ): Promise<FetchClaim> {
    const [verdict, waitMs] = await this.redis.notaryClaimFetch(
      this.key(serverName),
      nowMs,
      minIntervalMs,
      this.emptyRecordTtlMs,
      requestedAtMs,
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

function toLookupResult(reply: (Buffer | number)[]): LookupResult {
  const [need, may, refresh, ...entries] = reply;
  return { needFetch: need === 1, mayFetch: may === 1, refreshDue: refresh === 1, entries: entries as Buffer[] };
}
