/**
 * Retired signing keys (NOTARY_OLD_SIGNING_KEYS_FILE), in the shape of Synapse's `old_signing_keys`
 * setting: `{"ed25519:<version>": {"key": "<base64 public key>", "expired_ts": <ms>}}`. They are
 * published in `old_verify_keys` so events and responses signed with them still verify. Only
 * public keys live here; the file is parsed strictly so a typo is an error at start, not a key
 * silently missing from what the notary publishes.
 */
import { promises as fs } from 'node:fs';
import {
  CanonicalJsonError,
  decodeEd25519PublicKey,
  encodeBase64,
  isEd25519KeyId,
  parseStrictJson,
  isPlainObject,
} from '@matrix-notary/protocol';
import { KeyFileError } from './errors';

export interface OldSigningKey {
  /** Unpadded standard base64 of the 32-byte public key. */
  key: string;
  /** When the key stopped being used, in milliseconds since the epoch. */
  expired_ts: number;
}

export type OldSigningKeys = Record<string, OldSigningKey>;

const SHAPE = '{"ed25519:<version>": {"key": "<base64 public key>", "expired_ts": <milliseconds>}}';

/** Parses the old-keys JSON text. `fileName` only goes into error messages. */
export function parseOldSigningKeys(text: string, fileName: string): OldSigningKeys {
  const where = `old signing keys file ${fileName}`;
  let value: unknown;
  try {
    value = parseStrictJson(text);
  } catch (err) {
    if (err instanceof SyntaxError) throw new KeyFileError(`${where} is not JSON (${err.message}); expected ${SHAPE}`);
    if (err instanceof CanonicalJsonError) throw new KeyFileError(`${where}: ${err.message}; expected ${SHAPE}`);
    throw err;
  }
  if (!isPlainObject(value)) throw new KeyFileError(`${where} must hold a JSON object: ${SHAPE}`);
  const keys: OldSigningKeys = {};
  for (const [keyId, entry] of Object.entries(value)) {
    const at = `${where}, key ${JSON.stringify(keyId)}`;
    if (!isEd25519KeyId(keyId)) {
      throw new KeyFileError(`${at}: not an ed25519 key ID ("ed25519:" then letters, digits and "_")`);
    }
    if (!isPlainObject(entry)) throw new KeyFileError(`${at}: must be an object {"key": ..., "expired_ts": ...}`);
    const unknown = Object.keys(entry).filter((k) => k !== 'key' && k !== 'expired_ts');
    if (unknown.length > 0) {
      throw new KeyFileError(`${at}: unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; only "key" and "expired_ts" are allowed`);
    }
    const publicKey = decodeEd25519PublicKey(entry.key);
    if (publicKey === null) throw new KeyFileError(`${at}: "key" must be the base64 of a 32-byte ed25519 public key`);
    const expiredTs = entry.expired_ts;
    if (typeof expiredTs !== 'number' || !Number.isSafeInteger(expiredTs) || expiredTs < 0) {
      throw new KeyFileError(`${at}: "expired_ts" must be a non-negative integer (milliseconds since the epoch)`);
    }
    // Re-encoded so what is published is always unpadded standard base64, whatever the file used.
    keys[keyId] = { key: encodeBase64(publicKey), expired_ts: expiredTs };
  }
  return keys;
}

/** Reads and parses the old-keys file. */
export async function readOldSigningKeysFile(file: string): Promise<OldSigningKeys> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(`cannot read old signing keys file ${file} (${code ?? String(err)}): check NOTARY_OLD_SIGNING_KEYS_FILE`);
  }
  return parseOldSigningKeys(text, file);
}
