/**
 * The signer that holds the notary's private key in this process. The key is an OpenSSL key object
 * in an ES private field: nothing outside the class can reach it, and neither JSON.stringify nor
 * util.inspect shows it. Only public facts (server name, key ID, public key) are exposed.
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
import { SignerRefusedError, SignerUnavailableError } from './errors';
import { signingKeyId, type SigningKey } from './key-file';
import type { NotarySigner, OwnKeys } from './notary-signer';
import type { OldSigningKeys } from './old-keys';

export interface LocalSignerOptions {
  /** The notary's server name (NOTARY_SERVER_NAME). */
  serverName: string;
  /** The current key (from NOTARY_SIGNING_KEY_FILE). */
  key: SigningKey;
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

export class LocalSigner implements NotarySigner {
  readonly serverName: string;
  /** `ed25519:<version>` of the current key. */
  readonly keyId: string;
  /** The current public key, unpadded base64. */
  readonly publicKey: string;

  #secretKey: Ed25519SecretKey | undefined;
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
    if (!(options.key.seed instanceof Uint8Array) || options.key.seed.length !== ED25519_SEED_BYTES) {
      throw new Error(`the signing key's seed must be ${ED25519_SEED_BYTES} bytes`);
    }
    this.serverName = options.serverName;
    this.keyId = signingKeyId(options.key);
    const oldKeys = { ...(options.oldKeys ?? {}) };
    if (Object.prototype.hasOwnProperty.call(oldKeys, this.keyId)) {
      // Publishing one key ID as both current and retired would make peers' answers depend on
      // which map they look at first.
      throw new Error(`the current key ${this.keyId} is also listed as an old key: remove it from the old signing keys file`);
    }
    const pair = keyPairFromSeed(options.key.seed);
    this.publicKey = encodeBase64(pair.publicKey);
    this.#secretKey = pair.secretKey;
    this.#oldKeys = oldKeys;
    this.#ownKeyValidityMs = options.ownKeyValidityMs;
    this.#now = options.now ?? Date.now;
  }

  async ownKeys(): Promise<OwnKeys> {
    const validUntilTs = this.#now() + this.#ownKeyValidityMs;
    const response = {
      server_name: this.serverName,
      valid_until_ts: validUntilTs,
      verify_keys: { [this.keyId]: { key: this.publicKey } },
      old_verify_keys: Object.fromEntries(
        Object.entries(this.#oldKeys).map(([id, k]) => [id, { key: k.key, expired_ts: k.expired_ts }]),
      ),
    };
    const signed = signJson(response, this.serverName, this.keyId, this.#key());
    return {
      bytes: canonicalJsonBytes(signed),
      validUntilTs,
      verifyKeys: { [this.keyId]: { key: this.publicKey } },
    };
  }

  async countersign(originResponseJson: Buffer): Promise<Buffer> {
    const secretKey = this.#key();
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
      (bytes) => encodeBase64(signDetached(bytes, secretKey)),
      this.serverName,
      this.keyId,
    );
  }

  /** Drops the private key; later calls reject. */
  async close(): Promise<void> {
    this.#secretKey = undefined;
  }

  #key(): Ed25519SecretKey {
    if (this.#secretKey === undefined) throw new SignerUnavailableError('the local signer is closed');
    return this.#secretKey;
  }
}
