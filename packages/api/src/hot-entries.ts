/**
 * A short-lived in-pod copy of cache hits. A server asked for constantly (matrix.org, say) would
 * otherwise cost a Redis round trip per query on every pod; this answers it from memory for at
 * most HOT_ENTRY_TTL_MS, and drops the copy as soon as a worker announces a new response for that
 * server (the fetch-events channel every pod already follows). Only answers that needed no fetch
 * are kept, and minimum_valid_until_ts is judged against the copy's own valid_until_ts, so the
 * copy never serves anything the Redis lookup would not have served a moment ago. Background
 * refreshes are still noticed: Redis is consulted at least once per TTL for a hot entry.
 */
import { LRUCache } from 'lru-cache';
import type { LookupResult } from '@matrix-notary/store';
import type { ServerKeyQuery } from './key-query';

export const HOT_ENTRY_TTL_MS = 1000;
/** Servers kept at once; beyond it the least recently used are dropped. */
export const HOT_ENTRY_MAX_SERVERS = 10_000;
/** Distinct key-ID sets kept per server, so callers cannot grow one server's copy without bound. */
const MAX_KEY_SETS_PER_SERVER = 32;

interface HotEntry {
  entries: Buffer[];
  validUntilTs: number;
  expiresAt: number;
}

function keySetOf(keyIds: readonly string[]): string {
  return keyIds.length === 0 ? '' : keyIds.length === 1 ? keyIds[0] : [...keyIds].sort().join(',');
}

export class HotEntries {
  private readonly servers = new LRUCache<string, Map<string, HotEntry>>({ max: HOT_ENTRY_MAX_SERVERS });

  constructor(private readonly ttlMs = HOT_ENTRY_TTL_MS) {}

  /** The entries to serve from memory, or undefined when Redis must be asked. */
  get(q: ServerKeyQuery, nowMs: number): Buffer[] | undefined {
    const hot = this.servers.get(q.serverName)?.get(keySetOf(q.keyIds));
    if (hot === undefined || nowMs >= hot.expiresAt || hot.validUntilTs < q.minValidUntilTs) return undefined;
    return hot.entries;
  }

  /** Keeps a Redis answer that needed no fetch. */
  remember(q: ServerKeyQuery, result: LookupResult, nowMs: number): void {
    if (result.needFetch || result.validUntilTs === undefined || result.entries.length === 0) return;
    let sets = this.servers.get(q.serverName);
    if (sets === undefined) this.servers.set(q.serverName, (sets = new Map()));
    if (sets.size >= MAX_KEY_SETS_PER_SERVER) sets.clear();
    sets.set(keySetOf(q.keyIds), { entries: result.entries, validUntilTs: result.validUntilTs, expiresAt: nowMs + this.ttlMs });
  }

  /** Drops every copy for a server (a worker stored or failed to store something new). */
  forget(serverName: string): void {
    this.servers.delete(serverName);
  }
}
