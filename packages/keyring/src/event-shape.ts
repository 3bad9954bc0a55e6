/**
 * The few fields of an event that signature checking reads, checked before anything else so the
 * later steps can rely on their types. An event that fails here cannot be judged either way.
 */
import { isPlainObject, type JsonObject } from '@matrix-notary/protocol';
import { serverNameOfUserId } from './identifiers';

export interface EventFields {
  event: JsonObject;
  type: string;
  sender: string;
  senderServer: string;
  originServerTs: number;
  content: JsonObject;
  /** The event's `signatures`, `{}` when it has none (an unsigned event fails, it is not malformed). */
  signatures: Record<string, unknown>;
}

export type EventShapeCheck = { ok: true; fields: EventFields } | { ok: false; problems: string[] };

export function checkEventShape(value: unknown): EventShapeCheck {
  if (!isPlainObject<JsonObject>(value)) return { ok: false, problems: ['the event is not a JSON object'] };
  const problems: string[] = [];
  if (typeof value.type !== 'string') problems.push('type is missing or not a string');
  const senderServer = serverNameOfUserId(value.sender);
  if (senderServer === null) problems.push('sender is missing or not a user ID with a valid server name');
  if (!Number.isSafeInteger(value.origin_server_ts)) problems.push('origin_server_ts is missing or not an integer');
  if (!isPlainObject(value.content)) problems.push('content is missing or not an object');
  if (value.signatures !== undefined && !isPlainObject(value.signatures)) problems.push('signatures is not an object');
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    fields: {
      event: value,
      type: value.type as string,
      sender: value.sender as string,
      senderServer: senderServer as string,
      originServerTs: value.origin_server_ts as number,
      content: value.content as JsonObject,
      signatures: (value.signatures ?? {}) as Record<string, unknown>,
    },
  };
}
