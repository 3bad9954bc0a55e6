/**
 * What the api and worker roles need from the signer. LocalSigner holds the key in this process
 * (the `all` role, and the signer role itself); RemoteSigner asks a signer role over HTTP. Both
 * give byte-identical results for the same inputs and clock.
 */

export interface OwnKeys {
  /** The notary's /_matrix/key/v2/server response as canonical JSON bytes, self-signed. */
  bytes: Buffer;
  /** The response's valid_until_ts. */
  validUntilTs: number;
  /** The response's verify_keys: the current key, and the extra keys of a rotation if any. */
  verifyKeys: Record<string, { key: string }>;
}

export interface NotarySigner {
  /** The notary's own server name, the name it signs as. */
  readonly serverName: string;
  /**
   * The notary's own key response: exactly the current key in verify_keys (with the extra keys
   * beside it when a rotation has them configured), retired keys in old_verify_keys (always
   * present, `{}` if none), valid_until_ts = now + the configured validity, signed by every key
   * of verify_keys.
   */
  ownKeys(): Promise<OwnKeys>;
  /**
   * Countersigns an origin's key response, given as the raw JSON bytes the origin sent. Resolves
   * to canonical JSON bytes with the origin's signatures kept, third servers' dropped and the
   * notary's added (one per key of its verify_keys). Rejects with SignerRefusedError when the input is not a validly self-signed
   * key response (or names the notary itself), SignerUnavailableError when the signer cannot be
   * asked.
   */
  countersign(originResponseJson: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}
