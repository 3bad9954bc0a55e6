/**
 * Event IDs, so results can name the event they are about. Room v1/v2 events carry their ID;
 * from v3 the ID is `$` + the reference hash (spec: "Calculating the reference hash for an event"):
 * sha256 over the canonical JSON of the redacted event without `signatures` and `unsigned`.
 */
import { createHash } from 'node:crypto';
import { canonicalJsonBytes, encodeBase64, type JsonObject } from '@matrix-notary/protocol';
import { redactEvent } from './redaction';
import type { RoomVersionRules } from './room-versions';

/** The reference hash as raw bytes. Throws CanonicalJsonError when the redacted event is not encodable. */
export function referenceHash(event: JsonObject, rules: RoomVersionRules): Buffer {
  const { signatures: _s, unsigned: _u, ...rest } = redactEvent(event, rules.redaction);
  return createHash('sha256').update(canonicalJsonBytes(rest)).digest();
}

function toUrlSafe(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_');
}

/** The event's ID under its room version, or null when it has none that can be known. */
export function eventIdOf(event: JsonObject, rules: RoomVersionRules): string | null {
  if (rules.eventIdFormat === 'server-assigned') {
    return typeof event.event_id === 'string' ? event.event_id : null;
  }
  let hash: Buffer;
  try {
    hash = referenceHash(event, rules);
  } catch {
    return null;
  }
  const b64 = encodeBase64(hash);
  return '$' + (rules.eventIdFormat === 'reference-hash-url-safe' ? toUrlSafe(b64) : b64);
}
