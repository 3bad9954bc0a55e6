/**
 * Every stored response, walked through in bounded batches, and a way to replace one response's
 * countersigned bytes in place: what the worker's re-sign sweep needs after the notary's signing
 * keys changed (a rotation). Also the sweep's lock (one worker at a time across the cluster) and
 * the tag of the key set the last completed sweep reached.
 *
 * The walk is Redis SCAN over the origin records (on a Redis Cluster, over each master in turn):
 * it may return a record twice and misses none that exists throughout; a record created during the
 * walk was countersigned by the signer as it is then, so missing it costs nothing.
 */
import { Cluster } from 'ioredis';
import { resignDoneKey, resignLockKey } from './keys';
import { parseStoredResponse, type StoredResponse } from './origin-record';
import type { RedisClient } from './redis';
import { registerScripts } from './scripts';

export interface OriginResponses {
  serverName: string;
  /** The record's key (the sweep writes back through it). */
  recordKey: string;
  /** The latest response first, then the older ones still answering for some key ID. */
  responses: StoredResponse[];
}

/** Glob characters of SCAN's MATCH, escaped so an operator's NOTARY_REDIS_PREFIX matches only itself. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

export class StoredResponses {
  private readonly recordPrefix: string;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    registerScripts(redis);
    this.recordPrefix = `${prefix}:origin:{`;
  }

  /**
   * The origin records' keys, in batches of about `batchSize` (SCAN's COUNT: a batch may hold
   * fewer, or a few more). Each batch costs one SCAN per node.
   */
  async *recordKeys(batchSize: number, signal?: AbortSignal): AsyncGenerator<string[]> {
    const pattern = `${globEscape(this.recordPrefix)}*`;
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    for (const node of nodes) {
      let cursor = '0';
      do {
        if (signal?.aborted) return;
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', batchSize);
        cursor = next;
        if (keys.length > 0) yield keys;
      } while (cursor !== '0');
    }
  }

  /** The stored responses of each record (two round trips for the whole batch). */
  async read(recordKeys: readonly string[]): Promise<OriginResponses[]> {
    const fieldLists = await Promise.all(recordKeys.map((key) => this.redis.hkeys(key)));
    const wanted = fieldLists.map((fields) => fields.filter((f) => f === 'latest' || f.startsWith('r:')).sort(latestFirst));
    const values = await Promise.all(
      recordKeys.map((key, i) => (wanted[i].length === 0 ? Promise.resolve([]) : this.redis.hmgetBuffer(key, ...wanted[i]))),
    );
    const out: OriginResponses[] = [];
    recordKeys.forEach((recordKey, i) => {
      if (!recordKey.startsWith(this.recordPrefix) || !recordKey.endsWith('}')) return;
      const responses: StoredResponse[] = [];
      for (const value of values[i]) {
        const response = value === null ? undefined : parseStoredResponse(value);
        if (response !== undefined) responses.push(response);
      }
      if (responses.length > 0) out.push({ serverName: recordKey.slice(this.recordPrefix.length, -1), recordKey, responses });
    });
    return out;
  }

  /**
   * Replaces `response`'s countersigned bytes with `replacement` if the response is still stored
   * exactly as read (as the latest, or moved to the older responses meanwhile). Returns false when
   * it was replaced or dropped since: nothing is written then.
   */
  async replace(recordKey: string, response: StoredResponse, replacement: Buffer): Promise<boolean> {
    const field = await this.redis.notaryReplaceResponse(recordKey, String(response.id), String(response.fetchedTs), response.bytes, replacement);
    return field !== '';
  }

  /** Takes the sweep's lock for `lifetimeMs` when nobody holds it. */
  async lock(token: string, lifetimeMs: number): Promise<boolean> {
    return (await this.redis.set(resignLockKey(this.prefix), token, 'PX', lifetimeMs, 'NX')) === 'OK';
  }

  /** Extends the lock held with `token`; false when it is no longer this holder's. */
  async renewLock(token: string, lifetimeMs: number): Promise<boolean> {
    return (await this.redis.notaryHoldLock(resignLockKey(this.prefix), token, lifetimeMs)) === 1;
  }

  async unlock(token: string): Promise<void> {
    await this.redis.notaryHoldLock(resignLockKey(this.prefix), token, 0);
  }

  /** The key-set tag the last completed sweep brought every stored response to, if any. */
  async sweptTag(): Promise<string | undefined> {
    return (await this.redis.get(resignDoneKey(this.prefix))) ?? undefined;
  }

  async setSweptTag(tag: string): Promise<void> {
    await this.redis.set(resignDoneKey(this.prefix), tag);
  }
}

function latestFirst(a: string, b: string): number {
  if (a === 'latest') return -1;
  if (b === 'latest') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
