/**
 * Keys already obtained, so a batch (or a long-running bot) asks a notary for each key once.
 * Bounded: the oldest keys go first when it is full. Records are never judged here; the validity
 * rule is applied per event when a signature is checked.
 */
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
  private readonly entries = new Map<string, KeyRecord[]>();

  constructor(private readonly maxKeys = DEFAULT_KEY_CACHE_MAX_KEYS) {
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) throw new Error('a key cache must hold at least one key');
  }

  get(serverName: string, keyId: string): readonly KeyRecord[] {
    return this.entries.get(cacheKey(serverName, keyId)) ?? [];
  }

  add(records: readonly KeyRecord[]): void {
    for (const record of records) {
      const k = cacheKey(record.serverName, record.keyId);
      const list = this.entries.get(k) ?? [];
      if (!list.some((r) => sameKeyRecord(r, record))) list.push({ ...record });
      // Re-inserting moves the key to the newest end of the Map's order.
      this.entries.delete(k);
      this.entries.set(k, list);
    }
    while (this.entries.size > this.maxKeys) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
