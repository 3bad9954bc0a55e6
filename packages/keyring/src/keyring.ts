/**
 * The facade: verify a batch of events of one room version. It works out which keys the batch
 * needs, takes what the cache holds, asks the key sources in order for the rest (a later source
 * only for keys the earlier ones did not provide well enough), then judges every event.
 */
import { type JsonObject, isPlainObject } from '@matrix-notary/protocol';
import { checkContentHash, type ContentHashCheck } from './content-hash';
import { eventIdOf } from './event-id';
import { checkEventShape } from './event-shape';
import { checkEventSignatures, combineVerdicts, keyNeedsOf, type ServerCheck, type Verdict } from './event-signatures';
import { MemoryKeyCache, type KeyCache } from './key-cache';
import type { KeySource, KeySourceFailure } from './key-source';
import { keyValidityBound } from './key-validity';
import type { SignerExemption } from './required-signers';
import { roomVersionRules, type RoomVersionRules } from './room-versions';

export interface EventVerification {
  /** Position of the event in the batch. */
  index: number;
  /** event_id (room v1/v2) or the reference-hash ID (v3+); null when it cannot be known. */
  eventId: string | null;
  sender: string | null;
  originServerTs: number | null;
  /** valid: every required server signed it with a valid key; invalid: a check failed; undecided: not enough to judge. */
  verdict: Verdict;
  /** Why the event could not be judged fully (malformed fields); empty for a well-formed event. */
  problems: string[];
  servers: ServerCheck[];
  exemptions: SignerExemption[];
  unrequiredSigners: string[];
  /** Reported apart from the verdict: a mismatch means "treat as redacted", not "forged". */
  contentHash: ContentHashCheck;
}

export interface VerificationReport {
  roomVersion: string;
  /** Combined verdict of the batch: invalid if any event is, else undecided if any is, else valid. */
  verdict: Verdict;
  events: EventVerification[];
  /** What went wrong while getting keys (also why a key may be missing). */
  keySourceFailures: KeySourceFailure[];
  /** The clock the validity rule used (ms since the epoch). */
  checkedAtMs: number;
}

export interface KeyringOptions {
  /** Asked in order; a later source only for keys still missing. */
  sources: KeySource[];
  cache?: KeyCache;
  /** The clock for the 7-day cap (tests). */
  now?: () => number;
}

export interface VerifyOptions {
  signal?: AbortSignal;
}

export class Keyring {
  private readonly sources: KeySource[];
  private readonly cache: KeyCache;
  private readonly now: () => number;

  constructor(options: KeyringOptions) {
    this.sources = [...options.sources];
    this.cache = options.cache ?? new MemoryKeyCache();
    this.now = options.now ?? Date.now;
  }

  /** Verifies one event; see verifyEvents. */
  async verifyEvent(event: unknown, roomVersion: string | number, options: VerifyOptions = {}): Promise<EventVerification> {
    const report = await this.verifyEvents([event], roomVersion, options);
    return report.events[0] as EventVerification;
  }

  /**
   * Verifies a batch of events of one room version. Throws UnknownRoomVersionError for a version
   * the spec does not define; every other problem is reported in the result.
   */
  async verifyEvents(events: readonly unknown[], roomVersion: string | number, options: VerifyOptions = {}): Promise<VerificationReport> {
    const rules = roomVersionRules(roomVersion);
    const nowMs = this.now();
    const shapes = events.map((e) => checkEventShape(e));

    // Per key: the latest origin_server_ts of an event signed with it, which its validity must reach.
    const needed = new Map<string, Map<string, number>>();
    let latestTs = 0;
    for (const shape of shapes) {
      if (!shape.ok) continue;
      latestTs = Math.max(latestTs, shape.fields.originServerTs);
      for (const need of keyNeedsOf(shape.fields, rules)) {
        const perServer = needed.get(need.serverName) ?? new Map<string, number>();
        perServer.set(need.keyId, Math.max(perServer.get(need.keyId) ?? -Infinity, shape.fields.originServerTs));
        needed.set(need.serverName, perServer);
      }
    }
    const keySourceFailures = await this.obtainKeys(needed, latestTs, rules, nowMs, options.signal);

    const lookup = (serverName: string, keyId: string) => this.cache.get(serverName, keyId);
    const results = events.map((event, index): EventVerification => {
      const shape = shapes[index] as ReturnType<typeof checkEventShape>;
      const object = isPlainObject<JsonObject>(event) ? event : null;
      const contentHash: ContentHashCheck = object
        ? checkContentHash(object)
        : { status: 'uncomputable', reason: 'the event is not a JSON object' };
      if (!shape.ok) {
        return {
          index,
          eventId: object ? eventIdOf(object, rules) : null,
          sender: object && typeof object.sender === 'string' ? object.sender : null,
          originServerTs: object && Number.isSafeInteger(object.origin_server_ts) ? (object.origin_server_ts as number) : null,
          verdict: 'undecided',
          problems: shape.problems,
          servers: [],
          exemptions: [],
          unrequiredSigners: [],
          contentHash,
        };
      }
      const check = checkEventSignatures(shape.fields, rules, lookup, nowMs);
      return {
        index,
        eventId: eventIdOf(shape.fields.event, rules),
        sender: shape.fields.sender,
        originServerTs: shape.fields.originServerTs,
        verdict: check.verdict,
        problems: check.problems,
        servers: check.servers,
        exemptions: check.exemptions,
        unrequiredSigners: check.unrequiredSigners,
        contentHash,
      };
    });

    const verdict = combineVerdicts(results.map((r) => r.verdict));
    return { roomVersion: rules.id, verdict, events: results, keySourceFailures, checkedAtMs: nowMs };
  }

  /** True when the cache holds the key well enough for the latest event that needs it. */
  private holds(serverName: string, keyId: string, neededUntilTs: number, rules: RoomVersionRules, nowMs: number): boolean {
    const records = this.cache.get(serverName, keyId);
    if (records.length === 0) return false;
    if (!rules.enforceKeyValidity) return true;
    return records.some((r) => keyValidityBound(r, nowMs) >= neededUntilTs);
  }

  private async obtainKeys(
    needed: Map<string, Map<string, number>>,
    latestTs: number,
    rules: RoomVersionRules,
    nowMs: number,
    signal?: AbortSignal,
  ): Promise<KeySourceFailure[]> {
    const failures: KeySourceFailure[] = [];
    for (const source of this.sources) {
      const missing = new Map<string, Set<string>>();
      for (const [serverName, keys] of needed) {
        for (const [keyId, untilTs] of keys) {
          if (this.holds(serverName, keyId, untilTs, rules, nowMs)) continue;
          const set = missing.get(serverName) ?? new Set<string>();
          set.add(keyId);
          missing.set(serverName, set);
        }
      }
      if (missing.size === 0) break;
      try {
        const result = await source.fetchKeys({ keys: missing, minimumValidUntilTs: latestTs, signal });
        this.cache.add(result.records);
        failures.push(...result.failures);
      } catch (err) {
        // Sources report failures rather than throw; a throw is a bug or an abort, kept as a failure
        // so the other sources still run.
        failures.push({ source: source.name, reason: 'request_failed', message: (err as Error).message });
      }
    }
    return failures;
  }
}
