/**
 * What the worker says about key-ID bindings when it stores or refuses a response: a collision
 * (logged with SHA-256 fingerprints of both bodies, as MSC4499 asks, never the bodies
 * themselves), provisional bindings (learned from an upstream notary) the origin overrode or
 * confirmed, retired key IDs evicted past the per-origin bound, and an expired_ts that changed.
 */
import type { Logger } from '@matrix-notary/common';
import { keyFingerprint } from '@matrix-notary/protocol';
import type { StoreResult } from '@matrix-notary/store';

type Collision = Extract<StoreResult, { stored: false }>['collision'];
type Stored = Extract<StoreResult, { stored: true }>;

/** Key IDs named in one log line, at most. */
const MAX_LOGGED_KEY_IDS = 20;

export function collisionRefusal(collision: Collision): { message: string; details: Record<string, unknown> } {
  return {
    message:
      `key ${collision.keyId} is already bound to another key body (first seen wins): the origin reused a key ID ` +
      'or someone else answers for it; check with its admin before `matrix-notary keys evict`',
    details: {
      keyId: collision.keyId,
      boundKeySha256: keyFingerprint(collision.boundBody),
      offeredKeySha256: keyFingerprint(collision.offeredBody),
    },
  };
}

export function reportBindingChanges(log: Logger, stored: Stored): void {
  if (stored.overridden.length > 0) {
    // Either the upstream was wrong or the origin reused a key ID; both are worth a look.
    log.warn(
      {
        upstream: stored.learnedFrom,
        keyIds: stored.overridden.slice(0, MAX_LOGGED_KEY_IDS).map((o) => o.keyId),
        learnedKeySha256: stored.overridden.slice(0, MAX_LOGGED_KEY_IDS).map((o) => keyFingerprint(o.learnedBody)),
        fetchedKeySha256: stored.overridden.slice(0, MAX_LOGGED_KEY_IDS).map((o) => keyFingerprint(o.fetchedBody)),
        provisionalDropped: stored.provisionalDropped,
      },
      'the origin gives key IDs learned from an upstream notary another key: the origin wins (MSC4499), everything learned from the upstream is dropped',
    );
  }
  if (stored.provisionalConfirmed > 0) {
    log.info({ confirmed: stored.provisionalConfirmed }, 'the origin confirmed key IDs learned from an upstream notary: they are bound for good now');
  }
  if (stored.evicted.length > 0) {
    log.warn(
      {
        evicted: stored.evicted.length,
        keyIds: stored.evicted.slice(0, MAX_LOGGED_KEY_IDS).map((e) => e.keyId),
        keySha256: stored.evicted.slice(0, MAX_LOGGED_KEY_IDS).map((e) => keyFingerprint(e.body)),
      },
      'the origin holds more than 3,000 retired key IDs: the ones never seen active, then the oldest, are no longer answerable',
    );
  }
  if (stored.unbanned.length > 0) {
    log.warn(
      { keyIds: stored.unbanned.map((e) => e.keyId), keySha256: stored.unbanned.map((e) => keyFingerprint(e.body)) },
      'key IDs bound to a banned (known-compromised) key were bound anew to the body the origin publishes now',
    );
  }
  if (stored.discarded > 0) {
    log.debug({ discarded: stored.discarded }, 'retired key IDs seen for the first time below the 3,000 bound were not bound');
  }
  for (const change of stored.expiryChanges.slice(0, MAX_LOGGED_KEY_IDS)) {
    log.warn(
      { keyId: change.keyId, recordedExpiredTs: change.recordedTs, offeredExpiredTs: change.offeredTs },
      'the origin gives a retired key another expired_ts; the first one recorded stays in its history (MSC4499)',
    );
  }
}
