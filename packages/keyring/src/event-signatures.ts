/**
 * Checking an event's signatures once the keys are at hand (spec: "Checking for a signature",
 * applied to the redacted event). Pure: keys come from a lookup function, the time from the caller.
 *
 * Per required server: at least one ed25519 signature must verify with a key valid for the event,
 * and no signature that could be checked may fail (as Synapse does: a bad signature is never
 * outweighed by a good one). A signature whose key is outside its validity fails the server unless
 * another signature of that server passes. Keys that cannot be found leave the server undecided.
 */
import { CanonicalJsonError, decodeBase64, ED25519_SIGNATURE_BYTES, signedBytes, verifyDetached, decodeEd25519PublicKey, isPlainObject } from '@matrix-notary/protocol';
import type { EventFields } from './event-shape';
import type { KeyKind, KeyRecord } from './key-records';
import { judgeKeyValidity, type ValidityJudgement, type ValidityRule } from './key-validity';
import { redactEvent } from './redaction';
import { requiredSigners, type SignerExemption, type SigningRequirement } from './required-signers';
import type { RoomVersionRules } from './room-versions';

export type Verdict = 'valid' | 'invalid' | 'undecided';

export type SignatureOutcome =
  /** Verified with a key valid for the event. */
  | 'passed'
  /** Does not verify with the server's key of that ID. */
  | 'bad_signature'
  /** Not a string of unpadded base64 holding 64 bytes. */
  | 'malformed_signature'
  /** Verifies, but the key was not valid at the event's origin_server_ts (room v5+). */
  | 'key_outside_validity'
  /** No key with that ID could be obtained for the server. */
  | 'key_not_found'
  /** Not an ed25519 key ID: ignored, as the spec says. */
  | 'unsupported_algorithm';

export interface KeyUse {
  source: string;
  kind: KeyKind;
  key: string;
  validUntilTs?: number;
  expiredTs?: number;
  /** What origin_server_ts was compared with (valid_until_ts after the 7-day cap, or expired_ts). */
  boundTs: number | null;
  capped: boolean;
}

export interface SignatureCheck {
  serverName: string;
  keyId: string;
  outcome: SignatureOutcome;
  passed: boolean;
  /** The validity rule applied, when a key verified the signature. */
  rule: ValidityRule | null;
  key: KeyUse | null;
  reason: string;
}

export interface ServerCheck {
  serverName: string;
  requiredBecause: SigningRequirement[];
  verdict: Verdict;
  reason: string;
  signatures: SignatureCheck[];
}

export interface SignaturesCheck {
  verdict: Verdict;
  servers: ServerCheck[];
  exemptions: SignerExemption[];
  /** Servers that signed although the room version does not require them; not checked. */
  unrequiredSigners: string[];
  problems: string[];
}

/** Looks up every record the keyring holds for a server's key ID. */
export type KeyLookup = (serverName: string, keyId: string) => readonly KeyRecord[];

export interface KeyNeed {
  serverName: string;
  keyId: string;
}

function isEd25519(keyId: string): boolean {
  return keyId.startsWith('ed25519:');
}

/** The keys a check of this event will look up: ed25519 key IDs of the required servers' signatures. */
export function keyNeedsOf(fields: EventFields, rules: RoomVersionRules): KeyNeed[] {
  const needs: KeyNeed[] = [];
  for (const serverName of requiredSigners(fields, rules).servers.keys()) {
    const sigs = fields.signatures[serverName];
    if (!isPlainObject(sigs)) continue;
    for (const keyId of Object.keys(sigs)) if (isEd25519(keyId)) needs.push({ serverName, keyId });
  }
  return needs;
}

function keyUse(record: KeyRecord, judgement: ValidityJudgement | null): KeyUse {
  return {
    source: record.source,
    kind: record.kind,
    key: record.key,
    ...(record.validUntilTs !== undefined ? { validUntilTs: record.validUntilTs } : {}),
    ...(record.expiredTs !== undefined ? { expiredTs: record.expiredTs } : {}),
    boundTs: judgement?.boundTs ?? null,
    capped: judgement?.capped ?? false,
  };
}

function decodeSignature(value: unknown): Uint8Array | null {
  if (typeof value !== 'string') return null;
  try {
    const raw = decodeBase64(value);
    return raw.length === ED25519_SIGNATURE_BYTES ? raw : null;
  } catch {
    return null;
  }
}

/** A valid judgement beats an invalid one; between equals, the later bound (no rule = unbounded) wins. */
function isBetter(a: ValidityJudgement, b: ValidityJudgement): boolean {
  if (a.valid !== b.valid) return a.valid;
  return (a.boundTs ?? Infinity) > (b.boundTs ?? Infinity);
}

function checkOneSignature(
  serverName: string,
  keyId: string,
  signature: unknown,
  bytes: Buffer,
  fields: EventFields,
  rules: RoomVersionRules,
  lookup: KeyLookup,
  nowMs: number,
): SignatureCheck {
  const base = { serverName, keyId, rule: null, key: null };
  if (!isEd25519(keyId)) {
    return { ...base, outcome: 'unsupported_algorithm', passed: false, reason: 'not an ed25519 key ID; ignored' };
  }
  const raw = decodeSignature(signature);
  if (raw === null) {
    return { ...base, outcome: 'malformed_signature', passed: false, reason: 'the signature is not 64 bytes of base64' };
  }
  const records = lookup(serverName, keyId);
  if (records.length === 0) {
    return { ...base, outcome: 'key_not_found', passed: false, reason: `no key ${keyId} of ${serverName} could be obtained` };
  }
  // Several records may hold the key (a current copy and a revoked one, from several sources): the
  // signature passes when any record that verifies it is valid for the event, as Synapse takes the
  // best validity it knows for a key.
  let best: { record: KeyRecord; judgement: ValidityJudgement } | null = null;
  for (const record of records) {
    const publicKey = decodeEd25519PublicKey(record.key);
    if (publicKey === null || !verifyDetached(raw, bytes, publicKey)) continue;
    const judgement = judgeKeyValidity(record, fields.originServerTs, nowMs, rules);
    if (best === null || isBetter(judgement, best.judgement)) best = { record, judgement };
  }
  if (best === null) {
    const sources = [...new Set(records.map((r) => r.source))].join(', ');
    return {
      ...base,
      outcome: 'bad_signature',
      passed: false,
      key: keyUse(records[0] as KeyRecord, null),
      reason: `the signature does not verify with ${keyId} of ${serverName} (from ${sources})`,
    };
  }
  const { record, judgement } = best;
  const from = `${record.kind} from ${record.source}`;
  if (!judgement.valid) {
    return {
      ...base,
      outcome: 'key_outside_validity',
      passed: false,
      rule: judgement.rule,
      key: keyUse(record, judgement),
      reason: `the signature verifies but the key was not valid at the event's time: ${judgement.reason} (${from})`,
    };
  }
  return {
    ...base,
    outcome: 'passed',
    passed: true,
    rule: judgement.rule,
    key: keyUse(record, judgement),
    reason: `the signature verifies; ${judgement.reason} (${from})`,
  };
}

function judgeServer(serverName: string, checks: SignatureCheck[], hadEntry: boolean): { verdict: Verdict; reason: string } {
  if (!hadEntry || checks.length === 0) return { verdict: 'invalid', reason: `the event carries no signature by ${serverName}` };
  const has = (o: SignatureOutcome): boolean => checks.some((c) => c.outcome === o);
  if (has('bad_signature')) return { verdict: 'invalid', reason: `a signature by ${serverName} does not verify` };
  if (has('malformed_signature')) return { verdict: 'invalid', reason: `a signature by ${serverName} is malformed` };
  if (has('passed')) return { verdict: 'valid', reason: `signed by ${serverName}` };
  if (has('key_outside_validity')) {
    return { verdict: 'invalid', reason: `${serverName} signed with a key that was not valid at the event's time` };
  }
  if (checks.every((c) => c.outcome === 'unsupported_algorithm')) {
    return { verdict: 'invalid', reason: `no signature by ${serverName} uses a supported algorithm (ed25519)` };
  }
  return { verdict: 'undecided', reason: `no key of ${serverName} used in its signatures could be obtained` };
}

/** Combines verdicts: any invalid wins, then any undecided, else valid. */
export function combineVerdicts(verdicts: Iterable<Verdict>): Verdict {
  let result: Verdict = 'valid';
  for (const v of verdicts) {
    if (v === 'invalid') return 'invalid';
    if (v === 'undecided') result = 'undecided';
  }
  return result;
}

/** Checks the signatures of a well-formed event under a room version's rules. */
export function checkEventSignatures(
  fields: EventFields,
  rules: RoomVersionRules,
  lookup: KeyLookup,
  nowMs: number,
): SignaturesCheck {
  const required = requiredSigners(fields, rules);
  const problems = [...required.problems];
  const unrequiredSigners = Object.keys(fields.signatures).filter((s) => !required.servers.has(s));

  let bytes: Buffer | null = null;
  try {
    bytes = signedBytes(redactEvent(fields.event, rules.redaction));
  } catch (err) {
    if (!(err instanceof CanonicalJsonError)) throw err;
    problems.push(`the redacted event is not canonical JSON (${err.message}), so no signature can be checked`);
  }

  const servers: ServerCheck[] = [];
  for (const [serverName, requiredBecause] of required.servers) {
    const entry = fields.signatures[serverName];
    const hadEntry = isPlainObject(entry);
    const checks: SignatureCheck[] = [];
    if (hadEntry && bytes !== null) {
      for (const [keyId, signature] of Object.entries(entry)) {
        checks.push(checkOneSignature(serverName, keyId, signature, bytes, fields, rules, lookup, nowMs));
      }
    }
    const judged =
      hadEntry && bytes === null
        ? { verdict: 'undecided' as const, reason: 'the signed bytes could not be computed' }
        : judgeServer(serverName, checks, hadEntry);
    servers.push({ serverName, requiredBecause, ...judged, signatures: checks });
  }

  const verdicts = servers.map((s) => s.verdict);
  if (problems.length > 0) verdicts.push('undecided');
  return { verdict: combineVerdicts(verdicts), servers, exemptions: required.exemptions, unrequiredSigners, problems };
}
