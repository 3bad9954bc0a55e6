/** Builds a LocalSigner from the key files named in the configuration. */
import { readSigningKeyFile } from './key-file';
import { LocalSigner } from './local-signer';
import type { SignerLogger } from './logger';
import { readOldSigningKeysFile } from './old-keys';

export interface LoadLocalSignerOptions {
  serverName: string;
  /** NOTARY_SIGNING_KEY_FILE */
  signingKeyFile: string;
  /** NOTARY_OLD_SIGNING_KEYS_FILE, when set. */
  oldSigningKeysFile?: string;
  ownKeyValidityMs: number;
  logger: SignerLogger;
  now?: () => number;
}

export async function loadLocalSigner(options: LoadLocalSignerOptions): Promise<LocalSigner> {
  const parsed = await readSigningKeyFile(options.signingKeyFile);
  if (parsed.ignoredKeyIds.length > 0) {
    options.logger.warn(
      { file: options.signingKeyFile, ignoredKeyIds: parsed.ignoredKeyIds },
      'the signing key file holds more than one key: only the first is used; list retired keys in NOTARY_OLD_SIGNING_KEYS_FILE',
    );
  }
  const oldKeys = options.oldSigningKeysFile ? await readOldSigningKeysFile(options.oldSigningKeysFile) : {};
  const signer = await LocalSigner.create({
    serverName: options.serverName,
    key: parsed.key,
    oldKeys,
    ownKeyValidityMs: options.ownKeyValidityMs,
    now: options.now,
  });
  options.logger.info(
    { serverName: signer.serverName, keyId: signer.keyId, publicKey: signer.publicKey, oldKeyIds: Object.keys(oldKeys) },
    'signing key loaded',
  );
  return signer;
}
