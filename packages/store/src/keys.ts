/**
 * Redis key names (every key and what it holds: ../SCHEMA.md). Each origin's record is one hash
 * whose name carries the server name in a hash tag, so every script touches one key and works
 * unchanged on Redis Cluster. Server names cannot contain braces (the grammar forbids them), so
 * the tag is unambiguous.
 */
export function originRecordKey(prefix: string, serverName: string): string {
  return `${prefix}:origin:{${serverName}}`;
}

/**
 * Cluster-wide counts of key-ID bindings (a hash: `bindings`, `evicted_operator`,
 * `evicted_retired_limit`, `evicted_banned_key`), kept by the callers of the scripts that bind and evict and read by
 * workers at scrape time. One key, so one read wherever it lives in a cluster.
 */
export function keyStatsKey(prefix: string): string {
  return `${prefix}:key-stats`;
}

export function fetchEventsChannel(prefix: string): string {
  return `${prefix}:fetch-events`;
}

/** BullMQ job IDs may not contain ':'; URI encoding removes it (and brackets) reversibly. */
export function refreshJobId(serverName: string): string {
  return encodeURIComponent(serverName);
}

/** The lock one worker holds while it re-signs stored responses (a string: the holder's token). */
export function resignLockKey(prefix: string): string {
  return `${prefix}:resign:lock`;
}

/** The key-set tag of the signer that the last completed re-sign sweep brought every stored response to. */
export function resignDoneKey(prefix: string): string {
  return `${prefix}:resign:done`;
}

/** An upstream notary's own backoff and rate limit (a hash, one slot: the server name is the hash tag). */
export function upstreamRecordKey(prefix: string, upstreamServerName: string): string {
  return `${prefix}:upstream:{${upstreamServerName}}`;
}
