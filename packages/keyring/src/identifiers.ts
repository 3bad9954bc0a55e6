/**
 * The server part of Matrix identifiers (`@user:server`, `$event:server` in room v1/v2): the
 * servers that must sign an event are read from them. Server names are case-sensitive (spec
 * appendix "Server Name"), so nothing here lower-cases them.
 */
import { isValidServerName } from '@matrix-notary/protocol';

/**
 * The server name after the first `:` of an identifier with the given sigil, or null when the
 * identifier is not a string of that form or its server part is not a valid server name.
 */
export function serverNameOfIdentifier(id: unknown, sigil: '@' | '$' | '!'): string | null {
  if (typeof id !== 'string' || !id.startsWith(sigil)) return null;
  const colon = id.indexOf(':');
  if (colon < 0) return null;
  const server = id.slice(colon + 1);
  return isValidServerName(server) ? server : null;
}

/** The server of a user ID, e.g. `example.org` for `@alice:example.org`. */
export function serverNameOfUserId(userId: unknown): string | null {
  return serverNameOfIdentifier(userId, '@');
}
