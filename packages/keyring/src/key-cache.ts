/**
 * Keys already obtained, so a batch (or a long-running bot) asks a notary for each key once.
 * Bounded: when it is full, the key added (or added again) longest ago goes first. Records are
 * never judged here; the validity rule is applied per event when a signature is checked.
 */
import { LRUCache } from 'lru-cache';
import { sameKeyRecord, type KeyRecord } from './key-records';

export interface KeyCache {
  get(serverName: string, keyId: string): readonly KeyRecord[];
  add(records: readonly KeyRecord[]): void;
}

export const DEFAULT_KEY_CACHE_MAX_KEYS = 10_000;

function cacheKey(serverName: string, keyId: string): string {
  // NUL cannot occur in a server name or key ID, so the pair stays unambiguous.
  return `${serverName}\u0000${keyId}`;
}

export class MemoryKeyCache implements KeyCache {
  private readonly entries: LRUCache<string, KeyRecord[]>;

  constructor(maxKeys = DEFAULT_KEY_CACHE_MAX_KEYS) {
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new Error('a key cache must hold at least one key');
    this.entries = new LRUCache({ max: maxKeys });
  }

  get(serverName: string, keyId: string): readonly KeyRecord[] {
    // peek: a read does not keep a key; only adding it again does.
    return this.entries.peek(cacheKey(serverName, keyId)) ?? [];
  }

  add(records: readonly KeyRecord[]): void {
    for (const record of records) {
      const k = cacheKey(record.serverName, record.keyId);
      const list = this.entries.peek(k) ?? [];
      if (!list.some((r) => sameKeyRecord(r, record))) list.push({ ...record });
      this.entries.set(k, list); // the newest now, whether or not the record was new
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
