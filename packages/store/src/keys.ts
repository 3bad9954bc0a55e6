/**
 * Redis key names. Each origin's record is one hash whose name carries the server name in a hash
 * tag, so every script touches one key and works unchanged on Redis Cluster. Server names cannot
 * contain braces (the grammar forbids them), so the tag is unambiguous.
 */
export function originRecordKey(prefix: string, serverName: string): string {
  return `${prefix}:origin:{${serverName}}`;
}

export function fetchEventsChannel(prefix: string): string {
  return `${prefix}:fetch-events`;
}

/** BullMQ job IDs may not contain ':'; URI encoding removes it (and brackets) reversibly. */
export function refreshJobId(serverName: string): string {
  return encodeURIComponent(serverName);
}
