/**
 * The notary's Redis model for origin responses, key-ID bindings, rate limits and backoff. Each
 * change to an origin's record is atomic on that record alone (a Lua script; releaseClaim's two
 * commands a MULTI), so no reader sees half of one. An operation may make several such changes
 * (storeResponse drops a banned key's binding, then stores again), and the cluster-wide binding
 * counts live in another key, updated after the record's script: they can lag it, and drift if a
 * process dies in between. Reads are plain HMGETs: a cache hit is one HMGET of fixed fields (the
 * record's layout: origin-record.ts); lookup's rare second read, of older responses, is checked
 * for a store in between and done again.
 */
import { KEY_VALIDITY_CAP_MS, MAX_RETIRED_KEYS_PER_ORIGIN, type BannedKeys, type ResponseKey } from '@matrix-notary/protocol';
import { keyStatsKey, originRecordKey } from './keys';
import { bindingInHeader, headerOf, holderOf, parseStoredResponse, type StoredResponse } from './origin-record';
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
  /**
   * Countersigned response bytes to serve, each at most once: older responses answering for
   * asked-for keys the latest lacks, then the latest. Empty when the query names key IDs and none
   * can be answered (DESIGN "What an entry holds"), or when nothing servable is stored.
   */
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
  /**
   * NOTARY_BANNED_KEYS_FILE: stored responses holding one of these keys are never served, and a
   * binding to one of them does not hold (it protects nothing: others know the key).
   */
  bannedKeys?: BannedKeys;
  /** Retired key IDs that stay answerable per origin (DESIGN behaviour 12); tests lower it. */
  maxRetiredKeys?: number;
}

/** How long a claimed fetch counts as in flight when the caller gives no lease. */
export const DEFAULT_FETCH_LEASE_MS = 30_000;

export interface FetchClaim {
  allowed: boolean;
  /** A fetch ended after this one was asked for: its result already answers the request. */
  superseded: boolean;
  waitMs: number;
}

/** What storeResponse needs besides the bytes: what the worker's check found in the response. */
export interface ResponseToStore {
  validUntilTs: number;
  /** Every key of the response, as validateOriginKeyResponse reports them. */
  keys: readonly ResponseKey[];
}

export interface DroppedBinding {
  keyId: string;
  body: string;
}

/** What storeLearnedResponse returns: as storeResponse, or `held` when a response was stored meanwhile. */
export type LearnedStoreResult = StoreResult | { stored: false; held: true };

export type StoreResult =
  | {
      stored: true;
      id: string;
      /** Key IDs bound for the first time by this response. */
      bindingsAdded: number;
      /** Retired key IDs no longer answerable: the per-origin bound was passed. */
      evicted: DroppedBinding[];
      /** Retired key IDs offered for the first time below the bound: not bound at all. */
      discarded: number;
      /** Bindings to banned keys dropped so that this response could bind those key IDs anew. */
      unbanned: DroppedBinding[];
      /** Key IDs whose first recorded expired_ts stays although this response gives another. */
      expiryChanges: Array<{ keyId: string; recordedTs: number; offeredTs: number }>;
      /**
       * Provisional bindings (learned from an upstream notary) this response from the origin gave
       * another body: it overrode them, and every provisional binding was dropped with them.
       */
      overridden: Array<{ keyId: string; learnedBody: string; fetchedBody: string }>;
      /** Provisional bindings dropped because the origin overrode one of them. */
      provisionalDropped: number;
      /** Provisional bindings this response from the origin confirmed (now permanent). */
      provisionalConfirmed: number;
      /** The upstream notary the dropped bindings had been learned from ('' when none were dropped). */
      learnedFrom: string;
    }
  | {
      stored: false;
      /** A key ID already bound to another body: the whole response is refused. */
      collision: { keyId: string; boundBody: string; offeredBody: string };
    };

export interface KeyStats {
  bindings: number;
  evictedOperator: number;
  evictedRetiredLimit: number;
  evictedBannedKey: number;
}

/** Everything held for one origin, for `matrix-notary inspect`. */
export interface OriginRecord {
  fields: Map<string, Buffer>;
}

const KIND_CODES = { active: 'a', retired: 'o', unusable: 'f' } as const;
/**
 * Stored responses whose ban verdict is remembered (the list is fixed for the life of the process,
 * and a stored response never changes: its ID and fetch time name it). Past this many the memory
 * starts over: a scan costs about a microsecond.
 */
const MAX_BAN_VERDICTS = 50_000;
/** Bindings to banned keys one store may drop (each retry drops one). */
const MAX_UNBAN_RETRIES = 8;
/** How much of an error message is kept for inspect. */
const MAX_PROBLEM_CHARS = 300;

export class KeyStore {
  private readonly prefix: string;
  private readonly refreshRequestIntervalMs: number;
  private readonly emptyRecordTtlMs: number;
  private readonly bannedKeys?: BannedKeys;
  private readonly maxRetiredKeys: number;
  /** Per server, the ban verdict of the last stored response checked (named by ID and fetch time). */
  private readonly banVerdicts = new Map<string, { id: number; fetchedTs: number; banned: boolean }>();

  constructor(
    private readonly redis: RedisClient,
    opts: KeyStoreOptions,
  ) {
    registerScripts(redis);
    this.prefix = opts.prefix;
    this.refreshRequestIntervalMs = opts.refreshRequestIntervalMs ?? 60_000;
    this.emptyRecordTtlMs = opts.emptyRecordTtlMs ?? 60_000;
    this.bannedKeys = opts.bannedKeys !== undefined && opts.bannedKeys.size > 0 ? opts.bannedKeys : undefined;
    this.maxRetiredKeys = opts.maxRetiredKeys ?? MAX_RETIRED_KEYS_PER_ORIGIN;
  }

  private key(serverName: string): string {
    return originRecordKey(this.prefix, serverName);
  }

  /**
   * Looks up many origins: one HMGET of fixed fields per origin, all sent at once (one round
   * trip; separate commands, so a Redis Cluster can route each to its node), a second only for
   * the rare origin whose asked-for keys live in older responses, and a tiny script only for the
   * rare caller elected to ask for a background refresh.
   */
  async lookup(queries: readonly OriginQuery[], nowMs: number, retries = 2): Promise<LookupResult[]> {
    if (queries.length === 0) return [];
    const replies = await Promise.all(
      queries.map((q) => this.redis.hmgetBuffer(this.key(q.serverName), ...LOOKUP_FIELDS, ...keyFields(q.keyIds))),
    );
    const judged = replies.map((reply, i) => judge(queries[i], reply, nowMs, this.refreshRequestIntervalMs, this.servable));
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
    const replies = await Promise.all(
      wanted.map(([i, ids]) => this.redis.hmgetBuffer(this.key(queries[i].serverName), ...ids.map((id) => `r:${id}`))),
    );
    const raced: number[] = [];
    wanted.forEach(([i], k) => {
      const older: Buffer[] = [];
      for (const value of replies[k]) {
        const response = value === null ? undefined : parseStoredResponse(value);
        if (response === undefined) {
          raced.push(i);
          return;
        }
        if (!this.servable(queries[i].serverName, response)) continue;
        older.push(response.bytes);
      }
      finishWithOlder(judged[i], older);
    });
    return raced;
  }

  /** "Never served": false for a stored response that holds a banned key, even one stored before the ban. */
  private readonly servable = (serverName: string, response: StoredResponse): boolean => {
    if (this.bannedKeys === undefined) return true;
    const known = this.banVerdicts.get(serverName);
    if (known !== undefined && known.id === response.id && known.fetchedTs === response.fetchedTs) return !known.banned;
    const banned = this.bannedKeys.heldIn(serverName, response.bytes);
    if (known === undefined && this.banVerdicts.size >= MAX_BAN_VERDICTS) this.banVerdicts.clear();
    this.banVerdicts.set(serverName, { id: response.id, fetchedTs: response.fetchedTs, banned });
    return !banned;
  };

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
   * Claims the right to fetch `serverName` now, for `claimant` (the refresh job: a job run again
   * after its worker died holds its own claim and goes ahead at once).
   * `requestedAtMs`: when the fetch was asked for; without it, the claim is never superseded.
   * `leaseMs`: how long the fetch may take; lookups see it in flight until then or its outcome.
   * The interval and backoff come from the previous fetch's outcome, not from the claim.
   */
  async claimFetch(
    serverName: string,
    nowMs: number,
    claimant: string,
    requestedAtMs = Number.MAX_SAFE_INTEGER,
    leaseMs = DEFAULT_FETCH_LEASE_MS,
  ): Promise<FetchClaim> {
    const [verdict, waitMs] = await this.redis.notaryClaimFetch(
      this.key(serverName),
      nowMs,
      this.emptyRecordTtlMs + leaseMs,
      requestedAtMs,
      leaseMs,
      claimant,
    );
    return { allowed: verdict === 1, superseded: verdict === 2, waitMs };
  }

  /**
   * Ends a claim whose fetch reached the origin but could not be stored for a reason that is not
   * the origin's (the signer was unavailable): the origin was contacted, so the interval runs
   * from now, but no failure is counted against it.
   */
  async releaseClaim(serverName: string, nowMs: number, minIntervalMs: number): Promise<void> {
    await this.redis
      .multi()
      .hset(this.key(serverName), 'next', String(nowMs + minIntervalMs))
      .hdel(this.key(serverName), 'busy', 'owner')
      .exec();
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

  /** Remembers why the last fetch failed or was refused (shown by `inspect`; cleared by a store). */
  async noteProblem(serverName: string, nowMs: number, reason: string, message: string): Promise<void> {
    const text = message.replace(/\s+/g, ' ').slice(0, MAX_PROBLEM_CHARS);
    await this.redis.notaryNoteProblem(this.key(serverName), `${nowMs} ${reason} ${text}`);
  }

  /**
   * Stores countersigned bytes as the origin's latest response, binding its key IDs, unless one
   * of them is bound to another body (then nothing is written: the last accepted response stays).
   * Keeps the cluster-wide binding counts (KeyStats) up to date.
   */
  async storeResponse(
    serverName: string,
    countersigned: Buffer,
    response: ResponseToStore,
    nowMs: number,
    minIntervalMs: number,
  ): Promise<StoreResult> {
    const unbanned: DroppedBinding[] = [];
    // A key ID bound to a banned key may be bound anew (a remediated origin republishes such an
    // ID with a throwaway key): drop that binding, if it is still the banned one, and try again.
    for (let attempt = 0; ; attempt++) {
      const result = await this.storeOnce(serverName, countersigned, response, nowMs, minIntervalMs);
      if (result.stored) return unbanned.length === 0 ? result : { ...result, unbanned };
      if ('held' in result) throw new Error('the store script answered `held` to a response from the origin itself');
      const { keyId, boundBody } = result.collision;
      if (attempt >= MAX_UNBAN_RETRIES || this.bannedKeys?.match(serverName, keyId, boundBody) === undefined) return result;
      const dropped = pairs(await this.redis.notaryEvictKeys(this.key(serverName), keyId, boundBody)).map(([id, body]) => ({ keyId: id, body }));
      await this.countBindings(-dropped.length, 'evicted_banned_key', dropped.length);
      unbanned.push(...dropped);
    }
  }

  private async storeOnce(
    serverName: string,
    countersigned: Buffer,
    response: ResponseToStore,
    nowMs: number,
    minIntervalMs: number,
    upstream = '',
  ): Promise<LearnedStoreResult> {
    const args: (string | number | Buffer)[] = [nowMs, countersigned, response.validUntilTs, minIntervalMs, this.maxRetiredKeys, upstream];
    for (const k of response.keys) args.push(k.keyId, k.body, KIND_CODES[k.kind], k.expiredTs ?? 0);
    const reply = await this.redis.notaryStoreResponse(this.key(serverName), ...args);
    if (reply[0] === 'held') return { stored: false, held: true };
    if (reply[0] === 'collision') {
      return { stored: false, collision: { keyId: reply[1], boundBody: reply[2], offeredBody: reply[3] } };
    }
    const [, id, added, evictedFlat, changesFlat, discarded, overriddenFlat, dropped, confirmed, learnedFrom] = reply;
    const evicted = pairs(evictedFlat).map(([keyId, body]) => ({ keyId, body }));
    const expiryChanges: Array<{ keyId: string; recordedTs: number; offeredTs: number }> = [];
    for (let i = 0; i + 2 < changesFlat.length; i += 3) {
      expiryChanges.push({ keyId: changesFlat[i], recordedTs: Number(changesFlat[i + 1]), offeredTs: Number(changesFlat[i + 2]) });
    }
    const overridden: Array<{ keyId: string; learnedBody: string; fetchedBody: string }> = [];
    for (let i = 0; i + 2 < overriddenFlat.length; i += 3) {
      overridden.push({ keyId: overriddenFlat[i], learnedBody: overriddenFlat[i + 1], fetchedBody: overriddenFlat[i + 2] });
    }
    await this.countBindings(Number(added) - evicted.length - Number(dropped), 'evicted_retired_limit', evicted.length);
    return {
      stored: true,
      id,
      bindingsAdded: Number(added),
      evicted,
      discarded: Number(discarded),
      unbanned: [],
      expiryChanges,
      overridden,
      provisionalDropped: Number(dropped),
      provisionalConfirmed: Number(confirmed),
      learnedFrom,
    };
  }

  /**
   * Stores an origin response learned from an upstream notary (`upstream`, its server name),
   * countersigned, for an origin the notary holds nothing for: its key-ID bindings are provisional
   * (MSC4499) until the origin itself confirms or overrides them. Nothing is written when a
   * response is held for the origin by then (`held`). The origin's fetch state is left as it is:
   * the caller records the origin's failure.
   */
  async storeLearnedResponse(
    serverName: string,
    countersigned: Buffer,
    response: ResponseToStore,
    nowMs: number,
    upstream: string,
  ): Promise<LearnedStoreResult> {
    if (!/^\S+$/.test(upstream)) throw new Error('the upstream notary must be named by its server name');
    return this.storeOnce(serverName, countersigned, response, nowMs, 0, upstream);
  }

  /** Whether any response is stored for the origin (an upstream is asked only when none is). */
  async holdsResponse(serverName: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(serverName), 'latest')) === 1;
  }

  /**
   * Drops one key ID's binding of an origin (and the responses that then answer for nothing), or
   * with no key ID everything held for it. The origin may then be fetched at once.
   */
  async evict(serverName: string, keyId?: string): Promise<DroppedBinding[]> {
    const flat = await this.redis.notaryEvictKeys(this.key(serverName), keyId ?? '');
    const dropped = pairs(flat).map(([id, body]) => ({ keyId: id, body }));
    await this.countBindings(-dropped.length, 'evicted_operator', dropped.length);
    return dropped;
  }

  private async countBindings(delta: number, evictedField: string, evicted: number): Promise<void> {
    const stats = keyStatsKey(this.prefix);
    const updates: Promise<unknown>[] = [];
    if (delta !== 0) updates.push(this.redis.hincrby(stats, 'bindings', delta));
    if (evicted > 0) updates.push(this.redis.hincrby(stats, evictedField, evicted));
    await Promise.all(updates);
  }

  /** The cluster-wide binding counts (one HMGET). */
  async readKeyStats(): Promise<KeyStats> {
    const [bindings, operator, limit, banned] = await this.redis.hmget(
      keyStatsKey(this.prefix),
      'bindings',
      'evicted_operator',
      'evicted_retired_limit',
      'evicted_banned_key',
    );
    return {
      bindings: Number(bindings ?? 0),
      evictedOperator: Number(operator ?? 0),
      evictedRetiredLimit: Number(limit ?? 0),
      evictedBannedKey: Number(banned ?? 0),
    };
  }

  /** Every field of an origin's record (empty when nothing is held), for inspect. */
  async readRecord(serverName: string): Promise<OriginRecord> {
    const all = await this.redis.hgetallBuffer(this.key(serverName));
    return { fields: new Map(Object.entries(all)) };
  }
}

function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/** Fixed fields read for every lookup; the asked-for key IDs' `k:` fields follow them. */
const LOOKUP_FIELDS = ['latest', 'next', 'fetched', 'rq', 'busy'] as const;

function keyFields(keyIds: readonly string[]): string[] {
  return keyIds.map((k) => `k:${k}`);
}

function num(value: Buffer | null): number {
  return value === null ? 0 : Number(value.toString('latin1'));
}

interface Judged {
  result: LookupResult;
  /** IDs of older responses answering for asked-for keys the latest does not. */
  olderIds: number[];
  /** The latest response answers for an asked key (or every key is asked) and may be served. */
  latestServable: boolean;
  latestAnswers: boolean;
  /** A background refresh is due, if this caller wins the election for it. */
  refreshCandidate: boolean;
}

/**
 * Completes an origin's answer once its older responses are read: they come first, the latest
 * last (Synapse and sytest read the first entry as the answer for the key asked); nothing at all
 * when no asked key ID can be answered.
 */
function finishWithOlder(j: Judged, older: Buffer[]): void {
  if (older.length < j.olderIds.length) j.result.needFetch = true; // a holder is banned: that key is unanswerable
  if (!j.latestAnswers && older.length === 0) {
    j.result.entries = [];
    j.result.needFetch = true;
    return;
  }
  j.result.entries = [...older, ...(j.latestServable ? j.result.entries : [])];
}

/** Decides, from one origin's fields, what to serve and whether a fetch is needed or due. */
function judge(
  q: OriginQuery,
  reply: (Buffer | null)[],
  nowMs: number,
  refreshRequestIntervalMs: number,
  servable: (serverName: string, response: StoredResponse) => boolean,
): Judged {
  const [latest, next, fetched, asked, busy] = reply;
  const fetchInFlight = num(busy) > nowMs;
  // Not while another fetch runs: the interval starts with that fetch's outcome.
  const mayFetch = nowMs >= num(next) && !fetchInFlight;
  const stored: StoredResponse | undefined = latest === null ? undefined : parseStoredResponse(latest);
  if (stored === undefined) {
    return {
      result: { needFetch: true, mayFetch, fetchInFlight, refreshDue: false, entries: [] },
      olderIds: [],
      latestServable: false,
      latestAnswers: false,
      refreshCandidate: false,
    };
  }
  const validUntil = stored.validUntilTs;
  // "Never served": a response stored before the ban list named its key is not served either.
  const latestServable = servable(q.serverName, stored);
  let needFetch = validUntil < q.minValidUntilTs || !latestServable;
  let latestAnswers = q.keyIds.length === 0 && latestServable;
  const olderIds: number[] = [];
  let header: string | undefined;
  for (let i = 0; i < q.keyIds.length; i++) {
    const field = reply[LOOKUP_FIELDS.length + i];
    const binding = field !== null ? field.toString('latin1') : bindingInHeader((header ??= headerOf(stored)), q.keyIds[i]);
    const holder = binding === undefined ? undefined : holderOf(binding);
    if (holder === undefined || holder === 0) {
      needFetch = true; // never seen (the origin may have rotated to it), or not usably held
    } else if (holder === stored.id) {
      if (latestServable) latestAnswers = true;
    } else if (!olderIds.includes(holder)) {
      olderIds.push(holder);
    }
  }
  const answerable = latestAnswers || olderIds.length > 0;
  if (!answerable) needFetch = true;
  let refreshCandidate = false;
  if (!needFetch && mayFetch) {
    // Refresh at half the remaining lifetime seen at fetch time, and at least every 7 days.
    const fetchedAt = num(fetched);
    const period = Math.min(Math.floor((validUntil - fetchedAt) / 2), KEY_VALIDITY_CAP_MS);
    refreshCandidate = nowMs >= fetchedAt + period && nowMs - num(asked) >= refreshRequestIntervalMs;
  }
  const entries = answerable && latestServable ? [stored.bytes] : [];
  return {
    result: { needFetch, mayFetch, fetchInFlight, refreshDue: false, entries, validUntilTs: validUntil },
    olderIds,
    latestServable,
    latestAnswers,
    refreshCandidate,
  };
}
