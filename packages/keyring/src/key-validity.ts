/**
 * Whether a key may be used for an event, under its room version (room v5 and later, seed 004):
 *  - a key from `verify_keys` counts only when min(valid_until_ts, now + 7 days) >= origin_server_ts:
 *    the cap stops a key published with a far-future validity from outliving its owner's ability
 *    to revoke it;
 *  - a key from `old_verify_keys` counts only when its expired_ts >= origin_server_ts: the server
 *    stopped using it then, so later events cannot be its;
 *  - room versions 1–4 have no validity rule: any key the server published counts.
 */
import { effectiveValidUntilTs, KEY_VALIDITY_CAP_MS } from '@matrix-notary/protocol';
import type { KeyRecord } from './key-records';
import type { RoomVersionRules } from './room-versions';

export type ValidityRule = 'no_validity_rule' | 'valid_until_ts' | 'expired_ts';

export interface ValidityJudgement {
  valid: boolean;
  rule: ValidityRule;
  /** The timestamp compared with origin_server_ts (after the 7-day cap), or null for no rule. */
  boundTs: number | null;
  /** True when the 7-day cap, not valid_until_ts, set the bound. */
  capped: boolean;
  reason: string;
}

/** The latest origin_server_ts the record can cover under the v5+ rules (ignoring room version). */
export function keyValidityBound(record: KeyRecord, nowMs: number): number {
  if (record.kind === 'old_verify_keys') return record.expiredTs ?? -Infinity;
  return effectiveValidUntilTs(record.validUntilTs ?? -Infinity, nowMs);
}

export function judgeKeyValidity(
  record: KeyRecord,
  originServerTs: number,
  nowMs: number,
  rules: RoomVersionRules,
): ValidityJudgement {
  if (!rules.enforceKeyValidity) {
    return {
      valid: true,
      rule: 'no_validity_rule',
      boundTs: null,
      capped: false,
      reason: `room version ${rules.id} has no key validity rule`,
    };
  }
  if (record.kind === 'old_verify_keys') {
    const expired = record.expiredTs ?? -Infinity;
    const valid = expired >= originServerTs;
    return {
      valid,
      rule: 'expired_ts',
      boundTs: expired,
      capped: false,
      reason: `old key expired_ts ${expired} ${valid ? '>=' : '<'} origin_server_ts ${originServerTs}`,
    };
  }
  const validUntil = record.validUntilTs ?? -Infinity;
  const bound = keyValidityBound(record, nowMs);
  const capped = bound < validUntil;
  const valid = bound >= originServerTs;
  const what = capped
    ? `valid_until_ts ${validUntil} capped to now + 7 days (${nowMs + KEY_VALIDITY_CAP_MS})`
    : `valid_until_ts ${validUntil}`;
  return {
    valid,
    rule: 'valid_until_ts',
    boundTs: bound,
    capped,
    reason: `${what} ${valid ? '>=' : '<'} origin_server_ts ${originServerTs}`,
  };
}
