/**
 * Key validity under room version 5 and later: a key counts for an event only when the lesser of
 * its valid_until_ts and now + 7 days is at least the event's origin_server_ts, so a key published
 * with a far-future validity cannot outlive its owner's ability to revoke it.
 */
export const KEY_VALIDITY_CAP_MS = 7 * 24 * 60 * 60 * 1000;

export function effectiveValidUntilTs(validUntilTs: number, nowMs: number): number {
  return Math.min(validUntilTs, nowMs + KEY_VALIDITY_CAP_MS);
}

export function isKeyValidAt(validUntilTs: number, originServerTs: number, nowMs: number): boolean {
  return effectiveValidUntilTs(validUntilTs, nowMs) >= originServerTs;
}
