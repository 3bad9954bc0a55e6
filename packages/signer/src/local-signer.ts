/**
 * The signer that holds the notary's private keys in this process: the current key, and during a
 * rotation the extra keys that sign beside it. Keys are OpenSSL key objects in an ES private
 * field: nothing outside the class can reach them, and neither JSON.stringify nor util.inspect
 * shows them. Only public facts (server name, key IDs, public keys) are exposed.
 */
import {
  canonicalJsonBytes,
  CanonicalJsonError,
  checkSelfSignedKeyResponse,
  countersignedCopy,
  ED25519_SEED_BYTES,
  encodeBase64,
  isValidServerName,
  keyPairFromSeed,
  parseStrictJson,
  signDetached,
  signJson,
  type Ed25519SecretKey,
} from '@matrix-notary/protocol';
import { SignerRefusedError, SignerUnavailableError, type NotarySigner, type OwnKeys } from '@matrix-notary/signer-client';
import { signingKeyId, type SigningKey } from './key-file';
import type { OldSigningKeys } from './old-keys';

export interface LocalSignerOptions {
  /** The notary's server name (NOTARY_SERVER_NAME). */
  serverName: string;
  /** The current key (from NOTARY_SIGNING_KEY_FILE). */
  key: SigningKey;
  /**
   * Further keys (from NOTARY_EXTRA_SIGNING_KEY_FILES) for a rotation: published in verify_keys
   * beside the current key, and signing every answer too, so callers pinning any of them accept it.
   */
  extraKeys?: readonly SigningKey[];
  /** Retired public keys (from NOTARY_OLD_SIGNING_KEYS_FILE), published in old_verify_keys. */
  oldKeys?: OldSigningKeys;
  /** How long the notary's own key response stays valid (NOTARY_OWN_KEY_VALIDITY_S × 1000). */
  ownKeyValidityMs: number;
  /** The clock, in milliseconds since the epoch; tests pass a fixed one. */
  now?: () => number;
}

// fatal: bytes that are not UTF-8 are refused rather than silently replaced with U+FFFD.
// ignoreBOM: a byte order mark stays in the text, so JSON.parse refuses it like any other stray byte.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** One key the notary signs with: its public half, and the private half kept in the signer. */
interface HeldKey {
  keyId: string;
  publicKey: string;
  secretKey: Ed25519SecretKey;
}

function holdKey(key: SigningKey, what: string): HeldKey {
  if (!(key.seed instanceof Uint8Array) || key.seed.length !== ED25519_SEED_BYTES) {
    throw new Error(`${what}'s seed must be ${ED25519_SEED_BYTES} bytes`);
  }
  const pair = keyPairFromSeed(key.seed);
  return { keyId: signingKeyId(key), publicKey: encodeBase64(pair.publicKey), secretKey: pair.secretKey };
}

export class LocalSigner implements NotarySigner {
  readonly serverName: string;
  /** `ed25519:<version>` of the current key. */
  readonly keyId: string;
  /** The current public key, unpadded base64. */
  readonly publicKey: string;
  /** The extra keys' IDs and public keys (empty unless a rotation is under way). */
  readonly extraKeys: ReadonlyArray<{ keyId: string; publicKey: string }>;

  /** The current key first, then the extra keys; every answer is signed by each. */
  #keys: HeldKey[] | undefined;
  readonly #oldKeys: OldSigningKeys;
  readonly #ownKeyValidityMs: number;
  readonly #now: () => number;

  static async create(options: LocalSignerOptions): Promise<LocalSigner> {
    return new LocalSigner(options);
  }

  constructor(options: LocalSignerOptions) {
    if (!isValidServerName(options.serverName)) {
      throw new Error(`the notary's server name ${JSON.stringify(options.serverName)} is not a valid Matrix server name`);
    }
    if (!Number.isSafeInteger(options.ownKeyValidityMs) || options.ownKeyValidityMs <= 0) {
      throw new Error('ownKeyValidityMs must be a positive integer number of milliseconds');
    }
    const keys = [holdKey(options.key, 'the signing key'), ...(options.extraKeys ?? []).map((k) => holdKey(k, 'an extra signing key'))];
    const oldKeys = { ...(options.oldKeys ?? {}) };
    const seen = new Set<string>();
    for (const { keyId } of keys) {
      // One key ID published twice (current and extra, or current and retired) would make peers'
      // answers depend on which entry they look at first. The loader names the files involved;
      // this guards every other way of building a signer.
      if (seen.has(keyId)) throw new Error(`the key ID ${keyId} is given twice: each signing key needs its own key ID`);
      if (Object.prototype.hasOwnProperty.call(oldKeys, keyId)) {
        throw new Error(`the signing key ${keyId} is also listed as an old key: remove it from the old signing keys file`);
      }
      seen.add(keyId);
    }
    this.serverName = options.serverName;
    this.keyId = keys[0].keyId;
    this.publicKey = keys[0].publicKey;
    this.extraKeys = keys.slice(1).map(({ keyId, publicKey }) => ({ keyId, publicKey }));
    this.#keys = keys;
    this.#oldKeys = oldKeys;
    this.#ownKeyValidityMs = options.ownKeyValidityMs;
    this.#now = options.now ?? Date.now;
  }

  async ownKeys(): Promise<OwnKeys> {
    const keys = this.#held();
    const validUntilTs = this.#now() + this.#ownKeyValidityMs;
    const verifyKeys = Object.fromEntries(keys.map((k) => [k.keyId, { key: k.publicKey }]));
    const response = {
      server_name: this.serverName,
      valid_until_ts: validUntilTs,
      verify_keys: verifyKeys,
      old_verify_keys: Object.fromEntries(
        Object.entries(this.#oldKeys).map(([id, k]) => [id, { key: k.key, expired_ts: k.expired_ts }]),
      ),
    };
    let signed: Record<string, unknown> = response;
    for (const key of keys) signed = signJson(signed, this.serverName, key.keyId, key.secretKey);
    return {
      bytes: canonicalJsonBytes(signed),
      validUntilTs,
      verifyKeys: Object.fromEntries(keys.map((k) => [k.keyId, { key: k.publicKey }])),
    };
  }

  async countersign(originResponseJson: Buffer): Promise<Buffer> {
    const keys = this.#held();
    let text: string;
    try {
      text = UTF8.decode(originResponseJson);
    } catch {
      throw new SignerRefusedError('not_json', 'the key response is not UTF-8 text');
    }
    let value: unknown;
    try {
      value = parseStrictJson(text);
    } catch (err) {
      if (err instanceof SyntaxError) throw new SignerRefusedError('not_json', `the key response is not JSON: ${err.message}`);
      if (err instanceof CanonicalJsonError) throw new SignerRefusedError('not_canonical_json', err.message);
      throw err;
    }
    const check = checkSelfSignedKeyResponse(value);
    if (!check.ok) throw new SignerRefusedError(check.reason, check.message);
    if (check.response.server_name === this.serverName) {
      // The notary's own keys come from ownKeys(); a "response" under its name from elsewhere is
      // someone trying to get the notary to vouch for keys it does not hold.
      throw new SignerRefusedError('own_name', `the key response names the notary itself (${this.serverName})`);
    }
    return countersignedCopy(
      check.response,
      this.serverName,
      keys.map((k) => ({ keyId: k.keyId, sign: (bytes: Buffer) => encodeBase64(signDetached(bytes, k.secretKey)) })),
    );
  }

  /** Drops the private keys; later calls reject. */
  async close(): Promise<void> {
    this.#keys = undefined;
  }

  #held(): HeldKey[] {
    if (this.#keys === undefined) throw new SignerUnavailableError('the local signer is closed');
    return this.#keys;
  }
}
