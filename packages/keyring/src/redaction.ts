/**
 * The redaction algorithm (spec: "Redactions", per room version). Event signatures cover the
 * redacted form of an event, so a redacted copy verifies as well as the full one; getting a single
 * kept field wrong for some room version makes every event of that kind fail there.
 */
import { isPlainObject, type JsonObject, type JsonValue } from '@matrix-notary/protocol';
import type { RedactionRules } from './room-versions';

/** Top-level keys every room version keeps. */
const TOP_LEVEL_KEPT = [
  'event_id',
  'type',
  'room_id',
  'sender',
  'state_key',
  'content',
  'hashes',
  'signatures',
  'depth',
  'prev_events',
  'auth_events',
  'origin_server_ts',
] as const;

/** Kept by room versions 1–10 only (MSC2176 and MSC3989 removed them in v11). */
const TOP_LEVEL_KEPT_BEFORE_V11 = ['origin', 'membership', 'prev_state'] as const;

function pick(source: JsonObject, keys: readonly string[]): JsonObject {
  const out: JsonObject = {};
  for (const key of keys) {
    if (Object.prototype.hasOwnProperty.call(source, key)) out[key] = source[key] as JsonValue;
  }
  return out;
}

/** The content keys an event type keeps under the given rules; `'all'` keeps the whole content. */
export function keptContentKeys(eventType: unknown, rules: RedactionRules): readonly string[] | 'all' {
  switch (eventType) {
    case 'm.room.member': {
      const keys = ['membership'];
      if (rules.memberKeepsJoinAuthorisedVia) keys.push('join_authorised_via_users_server');
      return keys;
    }
    case 'm.room.create':
      return rules.v11TopLevelAndContentRules ? 'all' : ['creator'];
    case 'm.room.join_rules':
      return rules.joinRulesKeepsAllow ? ['join_rule', 'allow'] : ['join_rule'];
    case 'm.room.power_levels': {
      const keys = ['ban', 'events', 'events_default', 'kick', 'redact', 'state_default', 'users', 'users_default'];
      if (rules.v11TopLevelAndContentRules) keys.push('invite');
      return keys;
    }
    case 'm.room.aliases':
      return rules.aliasesKeepsAliases ? ['aliases'] : [];
    case 'm.room.history_visibility':
      return ['history_visibility'];
    case 'm.room.redaction':
      return rules.v11TopLevelAndContentRules ? ['redacts'] : [];
    default:
      return [];
  }
}

function redactContent(eventType: unknown, content: unknown, rules: RedactionRules): JsonObject {
  // A content that is not an object keeps nothing: an event shape check reports it separately.
  if (!isPlainObject<JsonObject>(content)) return {};
  const kept = keptContentKeys(eventType, rules);
  if (kept === 'all') return { ...content };
  const out = pick(content, kept);
  if (eventType === 'm.room.member' && rules.memberKeepsThirdPartyInviteSigned) {
    // MSC3821: third_party_invite survives, holding only its `signed` member, so a redacted invite
    // can still be checked against the m.room.third_party_invite it answers.
    const invite = content.third_party_invite;
    if (isPlainObject(invite) && Object.prototype.hasOwnProperty.call(invite, 'signed')) {
      out.third_party_invite = { signed: invite.signed as JsonValue };
    }
  }
  return out;
}

/**
 * Returns the redacted copy of `event` under `rules` (the input is not changed). `unsigned` goes,
 * like every other key not in the kept list.
 */
export function redactEvent(event: JsonObject, rules: RedactionRules): JsonObject {
  const topLevel: readonly string[] = rules.v11TopLevelAndContentRules
    ? TOP_LEVEL_KEPT
    : [...TOP_LEVEL_KEPT, ...TOP_LEVEL_KEPT_BEFORE_V11];
  const out = pick(event, topLevel);
  if (Object.prototype.hasOwnProperty.call(event, 'content')) {
    out.content = redactContent(event.type, event.content, rules);
  }
  return out;
}
