/**
 * What each room version changes about verifying an event's signatures. Room versions 1 to 12 are
 * the ones the spec defines as of writing; everything else about a room version (auth rules, state
 * resolution) does not matter for signature checks and is left out.
 */

/** The redaction algorithm's choices, as flags, so each test can name the field a version changed. */
export interface RedactionRules {
  /** v1–5: `m.room.aliases` keeps `aliases` (removed in v6, MSC2432). */
  aliasesKeepsAliases: boolean;
  /** v8+: `m.room.join_rules` keeps `allow` (restricted joins, MSC3083). */
  joinRulesKeepsAllow: boolean;
  /** v9+: `m.room.member` keeps `join_authorised_via_users_server` (MSC3375). */
  memberKeepsJoinAuthorisedVia: boolean;
  /**
   * v11+ (MSC2176, MSC3989): the top-level `origin`, `membership` and `prev_state` are no longer
   * protected; `m.room.create` keeps its whole content; `m.room.power_levels` keeps `invite`;
   * `m.room.redaction` keeps `redacts` in its content.
   */
  v11TopLevelAndContentRules: boolean;
  /** v11+ (MSC3821): `m.room.member` keeps `third_party_invite.signed`. */
  memberKeepsThirdPartyInviteSigned: boolean;
}

export type EventIdFormat =
  /** `$opaque:server`, chosen by the sending server (v1, v2). */
  | 'server-assigned'
  /** `$` + standard unpadded base64 of the reference hash (v3). */
  | 'reference-hash-base64'
  /** `$` + URL-safe unpadded base64 of the reference hash (v4+). */
  | 'reference-hash-url-safe';

export interface RoomVersionRules {
  /** The room version identifier, e.g. "5". */
  id: string;
  eventIdFormat: EventIdFormat;
  /** v1, v2: the server of the `event_id` must sign too (later versions carry no event_id). */
  eventIdServerMustSign: boolean;
  /** v5+: a key counts only within its validity (valid_until_ts capped at now + 7 days, or expired_ts). */
  enforceKeyValidity: boolean;
  /** v8+: a join with `join_authorised_via_users_server` must be signed by that user's server. */
  restrictedJoins: boolean;
  redaction: RedactionRules;
}

function redactionFor(version: number): RedactionRules {
  return {
    aliasesKeepsAliases: version <= 5,
    joinRulesKeepsAllow: version >= 8,
    memberKeepsJoinAuthorisedVia: version >= 9,
    v11TopLevelAndContentRules: version >= 11,
    memberKeepsThirdPartyInviteSigned: version >= 11,
  };
}

function rulesFor(version: number): RoomVersionRules {
  return {
    id: String(version),
    eventIdFormat: version <= 2 ? 'server-assigned' : version === 3 ? 'reference-hash-base64' : 'reference-hash-url-safe',
    eventIdServerMustSign: version <= 2,
    enforceKeyValidity: version >= 5,
    restrictedJoins: version >= 8,
    redaction: redactionFor(version),
  };
}

/** Highest room version whose rules this library knows. */
export const LATEST_KNOWN_ROOM_VERSION = 12;

export const ROOM_VERSIONS: Readonly<Record<string, Readonly<RoomVersionRules>>> = Object.freeze(
  Object.fromEntries(
    Array.from({ length: LATEST_KNOWN_ROOM_VERSION }, (_, i) => i + 1).map((v) => [String(v), Object.freeze(rulesFor(v))]),
  ),
);

export const KNOWN_ROOM_VERSIONS: readonly string[] = Object.freeze(Object.keys(ROOM_VERSIONS));

export class UnknownRoomVersionError extends Error {
  constructor(readonly roomVersion: string) {
    super(`room version ${JSON.stringify(roomVersion)} is not one this library knows (${KNOWN_ROOM_VERSIONS.join(', ')})`);
    this.name = 'UnknownRoomVersionError';
  }
}

/** The rules of a room version; throws UnknownRoomVersionError for versions the spec does not define. */
export function roomVersionRules(roomVersion: string | number): RoomVersionRules {
  const rules = ROOM_VERSIONS[String(roomVersion)];
  if (rules === undefined) throw new UnknownRoomVersionError(String(roomVersion));
  return rules;
}
