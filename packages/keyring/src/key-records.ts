/**
 * Keys as the keyring keeps them: one record per key of a server's key response, with the
 * timestamp that bounds its use (the response's valid_until_ts for `verify_keys`, the key's own
 * expired_ts for `old_verify_keys`) and where it came from, so results can say which key was used.
 */
import { decodeEd25519PublicKey, type ServerKeyResponse } from '@matrix-notary/protocol';

export type KeyKind = 'verify_keys' | 'old_verify_keys';

export interface KeyRecord {
  serverName: string;
  keyId: string;
  /** The public key, unpadded base64 as published. */
  key: string;
  kind: KeyKind;
  /** For `verify_keys`: the `valid_until_ts` of the response that listed the key. */
  validUntilTs?: number;
  /** For `old_verify_keys`: when the server stopped using the key. */
  expiredTs?: number;
  /** Who provided it, for people: e.g. `notary notary.example`, `origin example.org`. */
  source: string;
}

/**
 * The ed25519 keys of a response that has already passed checkSelfSignedKeyResponse. Keys of other
 * algorithms are skipped: the spec's only signing algorithm is ed25519.
 */
export function keyRecordsFromResponse(response: ServerKeyResponse, source: string): KeyRecord[] {
  const records: KeyRecord[] = [];
  for (const [keyId, entry] of Object.entries(response.verify_keys)) {
    if (!keyId.startsWith('ed25519:') || decodeEd25519PublicKey(entry.key) === null) continue;
    records.push({ serverName: response.server_name, keyId, key: entry.key, kind: 'verify_keys', validUntilTs: response.valid_until_ts, source });
  }
  for (const [keyId, entry] of Object.entries(response.old_verify_keys ?? {})) {
    if (!keyId.startsWith('ed25519:') || decodeEd25519PublicKey(entry.key) === null) continue;
    records.push({ serverName: response.server_name, keyId, key: entry.key, kind: 'old_verify_keys', expiredTs: entry.expired_ts, source });
  }
  return records;
}

/** Two records say the same thing (the source aside): used to keep caches free of duplicates. */
export function sameKeyRecord(a: KeyRecord, b: KeyRecord): boolean {
  return (
    a.serverName === b.serverName &&
    a.keyId === b.keyId &&
    a.key === b.key &&
    a.kind === b.kind &&
    a.validUntilTs === b.validUntilTs &&
    a.expiredTs === b.expiredTs
  );
}
