/**
 * Builds a LocalSigner from the key files named in the configuration, checking at start what
 * would make the notary publish one key ID twice. Every problem is a KeyFileError whose one-line
 * message names the variable and the file, never the key.
 */
import { KeyFileError } from './errors';
import { readSigningKeyFile, signingKeyId, type SigningKey } from './key-file';
import { LocalSigner } from './local-signer';
import type { Logger } from 'pino';
import { readOldSigningKeysFile, type OldSigningKeys } from './old-keys';

export interface LoadLocalSignerOptions {
  serverName: string;
  /** NOTARY_SIGNING_KEY_FILE */
  signingKeyFile: string;
  /** NOTARY_EXTRA_SIGNING_KEY_FILES: keys that sign beside the current one during a rotation. */
  extraSigningKeyFiles?: readonly string[];
  /** NOTARY_OLD_SIGNING_KEYS_FILE, when set. */
  oldSigningKeysFile?: string;
  ownKeyValidityMs: number;
  logger: Logger;
  now?: () => number;
}

const MORE_THAN_ONE_KEY =
  'the signing key file holds more than one key: only the first is used; list retired keys in NOTARY_OLD_SIGNING_KEYS_FILE';

async function readKey(file: string, logger: Logger, variable?: string): Promise<SigningKey> {
  let parsed;
  try {
    parsed = await readSigningKeyFile(file);
  } catch (err) {
    if (variable !== undefined && err instanceof KeyFileError) throw new KeyFileError(`${variable}: ${err.message}`);
    throw err;
  }
  if (parsed.ignoredKeyIds.length > 0) logger.warn({ file, ignoredKeyIds: parsed.ignoredKeyIds }, MORE_THAN_ONE_KEY);
  return parsed.key;
}

/**
 * The extra keys, refused when one repeats a key ID of the current key, of an extra key listed
 * before it, or of a retired key: peers would not know which body the ID stands for.
 */
async function readExtraKeys(
  options: LoadLocalSignerOptions,
  current: SigningKey,
  oldKeys: OldSigningKeys,
): Promise<SigningKey[]> {
  const owners = new Map<string, string>([[signingKeyId(current), `the current key (NOTARY_SIGNING_KEY_FILE ${options.signingKeyFile})`]]);
  const extras: SigningKey[] = [];
  for (const file of options.extraSigningKeyFiles ?? []) {
    const key = await readKey(file, options.logger, 'NOTARY_EXTRA_SIGNING_KEY_FILES');
    const keyId = signingKeyId(key);
    const owner = owners.get(keyId);
    if (owner !== undefined) {
      throw new KeyFileError(
        `NOTARY_EXTRA_SIGNING_KEY_FILES: the key in ${file} has the key ID ${keyId}, already used by ${owner}: ` +
          'every signing key needs its own key ID (generate rotation keys with `npx matrix-notary generate-key`)',
      );
    }
    if (Object.prototype.hasOwnProperty.call(oldKeys, keyId)) {
      throw new KeyFileError(
        `NOTARY_EXTRA_SIGNING_KEY_FILES: the key in ${file} has the key ID ${keyId}, which NOTARY_OLD_SIGNING_KEYS_FILE ` +
          `${options.oldSigningKeysFile} lists as retired: a key is either signing or retired, remove it from one of them`,
      );
    }
    owners.set(keyId, `the extra key in ${file}`);
    extras.push(key);
  }
  return extras;
}

export async function loadLocalSigner(options: LoadLocalSignerOptions): Promise<LocalSigner> {
  const key = await readKey(options.signingKeyFile, options.logger);
  const oldKeys = options.oldSigningKeysFile ? await readOldSigningKeysFile(options.oldSigningKeysFile) : {};
  if (Object.prototype.hasOwnProperty.call(oldKeys, signingKeyId(key))) {
    throw new KeyFileError(
      `NOTARY_OLD_SIGNING_KEYS_FILE ${options.oldSigningKeysFile} lists the current key ${signingKeyId(key)} ` +
        `(NOTARY_SIGNING_KEY_FILE ${options.signingKeyFile}) as retired: remove it from the old signing keys file`,
    );
  }
  const extraKeys = await readExtraKeys(options, key, oldKeys);
  const signer = await LocalSigner.create({
    serverName: options.serverName,
    key,
    extraKeys,
    oldKeys,
    ownKeyValidityMs: options.ownKeyValidityMs,
    now: options.now,
  });
  options.logger.info(
    {
      serverName: signer.serverName,
      keyId: signer.keyId,
      publicKey: signer.publicKey,
      extraKeys: signer.extraKeys,
      oldKeyIds: Object.keys(oldKeys),
    },
    signer.extraKeys.length === 0 ? 'signing key loaded' : 'signing keys loaded: every answer is signed by the current key and each extra key',
  );
  return signer;
}
