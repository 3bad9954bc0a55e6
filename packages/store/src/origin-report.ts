/**
 * What the notary holds for one origin, read from its record (../SCHEMA.md) for
 * `matrix-notary inspect`: the stored responses, the key-ID bindings with their history, and the
 * fetch state. Pure; the field names of the JSON are the command's documented `--json` shape.
 */
import { keyFingerprint, type BannedKeys } from '@matrix-notary/protocol';
import { bindingsInHeader, headerOf, parseBinding, parseLearnedFrom, parseStoredResponse, type Binding, type BindingState } from './origin-record';

export interface ResponseReport {
  id: number;
  latest: boolean;
  fetched_ts: number;
  valid_until_ts: number;
  verify_keys: string[];
  old_verify_keys: string[];
  /** Key IDs this response is the answer for (the latest stored response holding each usably). */
  answers_for: string[];
  bytes: number;
  /** The upstream notary this response was learned from (not fetched from the origin), or null. */
  learned_from: string | null;
}

export type BindingStateName = 'active' | 'retired' | 'retired_expiry_ahead' | 'unlisted';

export interface BindingReport {
  key_id: string;
  /** The bound key body (unpadded base64; `~` and base64 of the text for a key that is not base64). */
  key: string;
  key_sha256: string;
  /** active: in the latest response's verify_keys; retired: in its old_verify_keys;
   *  retired_expiry_ahead: there, with an expired_ts too far ahead to be used; unlisted: not in it. */
  state: BindingStateName;
  /** ID of the response that answers for this key ID, or null when none does. */
  answered_by: number | null;
  first_seen_ts: number;
  last_seen_active_ts: number | null;
  retired_ts: number | null;
  expired_ts: number | null;
  banned: boolean;
  /** Learned from an upstream notary and not yet seen in a response of the origin itself (MSC4499). */
  provisional: boolean;
}

export interface FetchStateReport {
  next_fetch_ts: number | null;
  last_stored_ts: number | null;
  failures_in_a_row: number;
  last_failure_ts: number | null;
  fetch_in_flight_until_ts: number | null;
  last_error: { ts: number; reason: string; message: string } | null;
}

export interface OriginReport {
  server_name: string;
  /** Anything at all is held (responses, bindings or fetch state). */
  held: boolean;
  responses: ResponseReport[];
  bindings: BindingReport[];
  fetch: FetchStateReport;
}

const STATE_NAMES: Record<BindingState, BindingStateName> = { a: 'active', o: 'retired', f: 'retired_expiry_ahead', g: 'unlisted' };

function orNull(ms: number): number | null {
  return ms === 0 ? null : ms;
}

function numberField(fields: Map<string, Buffer>, name: string): number | null {
  const value = fields.get(name);
  if (value === undefined) return null;
  const n = Number(value.toString('latin1'));
  return Number.isFinite(n) ? n : null;
}

function keyIdsOf(bytes: Buffer): { verify: string[]; old: string[] } {
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { verify_keys?: object; old_verify_keys?: object };
    return { verify: Object.keys(parsed.verify_keys ?? {}), old: Object.keys(parsed.old_verify_keys ?? {}) };
  } catch {
    return { verify: [], old: [] };
  }
}

export function describeOriginRecord(serverName: string, fields: Map<string, Buffer>, banned?: BannedKeys): OriginReport {
  const bindings: Array<[string, Binding]> = [];
  const responses: ResponseReport[] = [];
  const latestValue = fields.get('latest');
  const latest = latestValue === undefined ? undefined : parseStoredResponse(latestValue);
  if (latest !== undefined) bindings.push(...bindingsInHeader(headerOf(latest)));
  for (const [field, value] of fields) {
    if (!field.startsWith('k:')) continue;
    const binding = parseBinding(value.toString('latin1'));
    if (binding !== undefined) bindings.push([field.slice(2), binding]);
  }
  bindings.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  const upField = fields.get('up');
  const learned = upField === undefined ? undefined : parseLearnedFrom(upField.toString('utf8'));
  const stored = [...fields]
    .filter(([field]) => field === 'latest' || field.startsWith('r:'))
    .map(([field, value]) => [field, parseStoredResponse(value)] as const);
  for (const [field, response] of stored) {
    if (response === undefined) continue;
    const keys = keyIdsOf(response.bytes);
    responses.push({
      id: response.id,
      latest: field === 'latest',
      fetched_ts: response.fetchedTs,
      valid_until_ts: response.validUntilTs,
      verify_keys: keys.verify,
      old_verify_keys: keys.old,
      answers_for: bindings.filter(([, b]) => Number(b.holder) === response.id).map(([keyId]) => keyId),
      bytes: response.bytes.length,
      learned_from: learned !== undefined && learned.responseId === response.id ? learned.upstream : null,
    });
  }
  responses.sort((a, b) => b.id - a.id);

  const err = fields.get('err')?.toString('utf8');
  const errMatch = err === undefined ? null : /^(\d+) (\S+) ?(.*)$/s.exec(err);
  const busy = numberField(fields, 'busy');
  return {
    server_name: serverName,
    held: fields.size > 0,
    responses,
    bindings: bindings.map(([keyId, b]) => ({
      key_id: keyId,
      key: b.body,
      key_sha256: keyFingerprint(b.body),
      state: STATE_NAMES[b.state],
      answered_by: b.holder === '0' ? null : Number(b.holder),
      first_seen_ts: b.firstSeenTs,
      last_seen_active_ts: orNull(b.lastSeenActiveTs),
      retired_ts: orNull(b.retiredTs),
      expired_ts: orNull(b.expiredTs),
      banned: banned?.match(serverName, keyId, b.body) !== undefined,
      provisional: b.provisional,
    })),
    fetch: {
      next_fetch_ts: numberField(fields, 'next'),
      last_stored_ts: numberField(fields, 'fetched'),
      failures_in_a_row: numberField(fields, 'fails') ?? 0,
      last_failure_ts: numberField(fields, 'failed'),
      fetch_in_flight_until_ts: busy,
      last_error: errMatch === null ? null : { ts: Number(errMatch[1]), reason: errMatch[2], message: errMatch[3] },
    },
  };
}
