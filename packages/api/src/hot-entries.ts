/**
 * A short-lived in-pod copy of cache hits. A server asked for constantly (matrix.org, say) would
 * otherwise cost a Redis round trip per query on every pod; this answers it from memory for at
 * most HOT_ENTRY_TTL_MS, and drops the copy as soon as a worker announces a new response for that
 * server (the fetch-events channel every pod already follows). Only answers that needed no fetch
 * are kept, and minimum_valid_until_ts is judged against the copy's own valid_until_ts, so the
 * copy never serves anything the Redis lookup would not have served a moment ago. Background
 * refreshes are still noticed: Redis is consulted at least once per TTL for a hot entry. Past the
 * TTL a copy stays until evicted (bounded in bytes): it is what the pod answers with while Redis
 * cannot be reached.
 */
import { LRUCache } from 'lru-cache';
import type { LookupResult } from '@matrix-notary/store';
import type { ServerKeyQuery } from './key-query';
import { assembleResponse } from './response';

export const HOT_ENTRY_TTL_MS = 1000;
/** Bytes of responses kept at once; beyond it the least recently used copies are dropped. */
export const HOT_ENTRY_MAX_BYTES = 64 * 1024 * 1024;
/** Answers larger than this are always read from Redis: a copy must not crowd out many others. */
const MAX_ENTRY_BYTES = 64 * 1024;
/** Distinct key-ID sets kept per server, so callers cannot grow one server's copies without bound. */
const MAX_KEY_SETS_PER_SERVER = 32;

interface HotEntry {
  serverName: string;
  entries: Buffer[];
  /** The whole answer for a query of this one server, assembled once. */
  single: Buffer;
  validUntilTs: number;
  expiresAt: number;
  bytes: number;
}

function keySetOf(keyIds: readonly string[]): string {
  return keyIds.length === 0 ? '' : keyIds.length === 1 ? keyIds[0] : [...keyIds].sort().join(',');
}

export class HotEntries {
  /** Keyed by server name and key-ID set; the index lists each server's keys for `forget`. */
  private readonly copies: LRUCache<string, HotEntry>;
  private readonly byServer = new Map<string, Set<string>>();

  constructor(
    private readonly ttlMs = HOT_ENTRY_TTL_MS,
    maxBytes = HOT_ENTRY_MAX_BYTES,
  ) {
    this.copies = new LRUCache<string, HotEntry>({
      maxSize: maxBytes,
      sizeCalculation: (entry) => entry.bytes,
      dispose: (entry, key) => {
        const keys = this.byServer.get(entry.serverName);
        keys?.delete(key);
        if (keys?.size === 0) this.byServer.delete(entry.serverName);
      },
    });
  }

  /** The entries to serve from memory, or undefined when Redis must be asked. */
  get(q: ServerKeyQuery, nowMs: number): Buffer[] | undefined {
    return this.fresh(q, nowMs)?.entries;
  }

  /** The whole answer to a query of this one server, from memory, or undefined. */
  getAnswer(q: ServerKeyQuery, nowMs: number): Buffer | undefined {
    return this.fresh(q, nowMs)?.single;
  }

  /**
   * The last answer kept for this query, however old: what the pod can still serve while Redis is
   * unreachable. Copies stay until evicted by size or dropped by a fetch event, not by age.
   */
  lastKnown(q: ServerKeyQuery): Buffer[] | undefined {
    return this.copies.get(`${q.serverName}\n${keySetOf(q.keyIds)}`)?.entries;
  }

  private fresh(q: ServerKeyQuery, nowMs: number): HotEntry | undefined {
    const hot = this.copies.get(`${q.serverName}\n${keySetOf(q.keyIds)}`);
    if (hot === undefined || nowMs >= hot.expiresAt || hot.validUntilTs < q.minValidUntilTs) return undefined;
    return hot;
  }

  /** Keeps a Redis answer that needed no fetch. */
  remember(q: ServerKeyQuery, result: LookupResult, nowMs: number): void {
    if (result.needFetch || result.validUntilTs === undefined || result.entries.length === 0) return;
    const bytes = result.entries.reduce((n, e) => n + e.length, 0);
    if (bytes > MAX_ENTRY_BYTES) return;
    const key = `${q.serverName}\n${keySetOf(q.keyIds)}`;
    const existing = this.byServer.get(q.serverName);
    if (existing !== undefined && !existing.has(key) && existing.size >= MAX_KEY_SETS_PER_SERVER) this.forget(q.serverName);
    // Set first: replacing a copy disposes the old one, which takes its key out of the index.
    const entry: HotEntry = {
      serverName: q.serverName,
      entries: result.entries,
      single: assembleResponse(result.entries),
      validUntilTs: result.validUntilTs,
      expiresAt: nowMs + this.ttlMs,
      bytes: 2 * bytes,
    };
    this.copies.set(key, entry);
    let keys = this.byServer.get(q.serverName);
    if (keys === undefined) this.byServer.set(q.serverName, (keys = new Set()));
    keys.add(key);
  }

  /** Drops every copy for a server (a worker stored or failed to store something new). */
  forget(serverName: string): void {
    for (const key of [...(this.byServer.get(serverName) ?? [])]) this.copies.delete(key);
    this.byServer.delete(serverName);
  }

  /** Bytes held now (for tests and curiosity). */
  get heldBytes(): number {
    return this.copies.calculatedSize;
  }
}
