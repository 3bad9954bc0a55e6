/**
 * Which servers must have signed an event (spec: "Validating hashes and signatures on received
 * events"):
 *  - the sender's server, except on an invite made from a third-party invite: the invited user's
 *    server may send it for the sender, so the sender's server need not have signed it;
 *  - room v1 and v2: the server of the event_id, which that server chose and so vouches for;
 *  - room v8 and later: on a join with `join_authorised_via_users_server`, that user's server,
 *    which vouched that the joiner may join a restricted room.
 */
import { serverNameOfIdentifier, serverNameOfUserId } from './identifiers';
import type { EventFields } from './event-shape';
import type { RoomVersionRules } from './room-versions';

export type SigningRequirement = 'sender' | 'event_id' | 'join_authorised_via_users_server';

export interface SignerExemption {
  serverName: string;
  requirement: SigningRequirement;
  because: 'third_party_invite';
}

export interface RequiredSigners {
  /** Server name → why it must sign, in a stable order. */
  servers: Map<string, SigningRequirement[]>;
  exemptions: SignerExemption[];
  /** Fields the rules need that are missing or malformed; the event cannot be judged fully. */
  problems: string[];
}

function add(servers: Map<string, SigningRequirement[]>, server: string, why: SigningRequirement): void {
  const reasons = servers.get(server) ?? [];
  if (!reasons.includes(why)) reasons.push(why);
  servers.set(server, reasons);
}

/** An m.room.member invite that carries a third_party_invite (presence is what counts, as in the spec). */
export function isThirdPartyInvite(fields: EventFields): boolean {
  return (
    fields.type === 'm.room.member' &&
    fields.content.membership === 'invite' &&
    Object.prototype.hasOwnProperty.call(fields.content, 'third_party_invite')
  );
}

export function requiredSigners(fields: EventFields, rules: RoomVersionRules): RequiredSigners {
  const servers = new Map<string, SigningRequirement[]>();
  const exemptions: SignerExemption[] = [];
  const problems: string[] = [];

  if (isThirdPartyInvite(fields)) {
    exemptions.push({ serverName: fields.senderServer, requirement: 'sender', because: 'third_party_invite' });
  } else {
    add(servers, fields.senderServer, 'sender');
  }

  if (rules.eventIdServerMustSign) {
    const server = serverNameOfIdentifier(fields.event.event_id, '$');
    if (server === null) problems.push(`room version ${rules.id} events need an event_id of the form $id:server`);
    else add(servers, server, 'event_id');
  }

  // The membership is read from content: the top-level `membership` is not protected from v11 on.
  if (
    rules.restrictedJoins &&
    fields.type === 'm.room.member' &&
    fields.content.membership === 'join' &&
    Object.prototype.hasOwnProperty.call(fields.content, 'join_authorised_via_users_server')
  ) {
    const server = serverNameOfUserId(fields.content.join_authorised_via_users_server);
    if (server === null) problems.push('join_authorised_via_users_server is not a user ID with a valid server name');
    else add(servers, server, 'join_authorised_via_users_server');
  }
  return { servers, exemptions, problems };
}
