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
 *
 * Memory: each copy is one buffer of its own (the whole one-server answer, its entries being views
 * into it), never a slice of a Redis reply, which would keep the reply's whole network buffer
 * alive. Eviction is oldest-first: a copy in use is put back at each refresh, so first-in-first-out
 * keeps what is asked for without the bookkeeping of least-recently-used on every hit.
 */
import type { LookupResult } from '@matrix-notary/store';
import type { ServerKeyQuery } from './key-query';

export const HOT_ENTRY_TTL_MS = 1000;
/** Bytes of copies kept at once; beyond it the oldest copies are dropped. */
export const HOT_ENTRY_MAX_BYTES = 16 * 1024 * 1024;
/** Answers larger than this are always read from Redis: a copy must not crowd out many others. */
const MAX_ENTRY_BYTES = 64 * 1024;
/** Distinct key-ID sets kept per server, so callers cannot grow one server's copies without bound. */
const MAX_KEY_SETS_PER_SERVER = 32;
/** What a copy costs beyond its bytes (the Map slot, the record, the views), for the byte bound. */
const ENTRY_OVERHEAD_BYTES = 200;

const OPEN = Buffer.from('{"server_keys":[');
const COMMA = 0x2c;
const CLOSE = Buffer.from(']}');

interface HotEntry {
  serverName: string;
  keySet: string;
  /** The whole answer for a query of this one server: `{"server_keys":[e1,e2]}`. */
  single: Buffer;
  /** Views of each entry in `single`. */
  entries: Buffer[];
  validUntilTs: number;
  expiresAt: number;
  bytes: number;
}

function keySetOf(keyIds: readonly string[]): string {
  return keyIds.length === 0 ? '' : keyIds.length === 1 ? keyIds[0] : [...keyIds].sort().join(',');
}

/** One buffer holding the answer for these entries, and views of each entry in it. */
function ownCopy(entries: readonly Buffer[]): { single: Buffer; views: Buffer[] } {
  let length = OPEN.length + CLOSE.length + Math.max(0, entries.length - 1);
  for (const e of entries) length += e.length;
  const single = Buffer.allocUnsafeSlow(length); // its own memory, not a slice of the shared pool
  let at = OPEN.copy(single, 0);
  const views: Buffer[] = [];
  entries.forEach((e, i) => {
    if (i > 0) single[at++] = COMMA;
    views.push(single.subarray(at, at + e.length));
    at += e.copy(single, at);
  });
  CLOSE.copy(single, at);
  return { single, views };
}

export class HotEntries {
  /**
   * Server name → key-ID set → copy: two lookups of strings the request already holds, rather
   * than one of a string built per lookup (hashing a fresh concatenation costs more than both).
   */
  private readonly byServer = new Map<string, Map<string, HotEntry>>();
  /** Every copy, oldest first, for the byte bound. */
  private readonly order = new Set<HotEntry>();
  private bytes = 0;

  constructor(
    private readonly ttlMs = HOT_ENTRY_TTL_MS,
    private readonly maxBytes = HOT_ENTRY_MAX_BYTES,
  ) {}

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
    return this.byServer.get(q.serverName)?.get(keySetOf(q.keyIds))?.entries;
  }

  private fresh(q: ServerKeyQuery, nowMs: number): HotEntry | undefined {
    const hot = this.byServer.get(q.serverName)?.get(keySetOf(q.keyIds));
    if (hot === undefined || nowMs >= hot.expiresAt || hot.validUntilTs < q.minValidUntilTs) return undefined;
    return hot;
  }

  /** Keeps a Redis answer that needed no fetch. */
  remember(q: ServerKeyQuery, result: LookupResult, nowMs: number): void {
    if (result.action !== 'serve' || result.validUntilTs === undefined || result.entries.length === 0) return;
    let size = 0;
    for (const e of result.entries) size += e.length;
    if (size > MAX_ENTRY_BYTES) return;
    const keySet = keySetOf(q.keyIds);
    const existing = this.byServer.get(q.serverName);
    const replaced = existing?.get(keySet);
    if (replaced !== undefined) this.drop(replaced);
    else if (existing !== undefined && existing.size >= MAX_KEY_SETS_PER_SERVER) this.forget(q.serverName);
    let copies = this.byServer.get(q.serverName); // dropping may have removed the server's map
    if (copies === undefined) this.byServer.set(q.serverName, (copies = new Map()));
    const { single, views } = ownCopy(result.entries);
    const entry: HotEntry = {
      serverName: q.serverName,
      keySet,
      single,
      entries: views,
      validUntilTs: result.validUntilTs,
      expiresAt: nowMs + this.ttlMs,
      bytes: single.length + ENTRY_OVERHEAD_BYTES,
    };
    copies.set(keySet, entry);
    this.order.add(entry); // the newest: a copy in use is put back at each refresh
    this.bytes += entry.bytes;
    for (const oldest of this.order) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldest);
    }
  }

  /** Drops every copy for a server (a worker stored or failed to store something new). */
  forget(serverName: string): void {
    for (const entry of this.byServer.get(serverName)?.values() ?? []) this.drop(entry);
  }

  private drop(entry: HotEntry): void {
    if (!this.order.delete(entry)) return;
    this.bytes -= entry.bytes;
    const copies = this.byServer.get(entry.serverName);
    copies?.delete(entry.keySet);
    if (copies?.size === 0) this.byServer.delete(entry.serverName);
  }

  /** Bytes held now (for tests and curiosity). */
  get heldBytes(): number {
    return this.bytes;
  }
}
