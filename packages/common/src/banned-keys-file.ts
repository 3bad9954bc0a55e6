/**
 * Reading NOTARY_BANNED_KEYS_FILE at start. A file that cannot be read or is not a valid list stops
 * the role with one message naming the variable: a ban list silently ignored would serve the
 * compromised keys it was meant to stop.
 */
import fs from 'node:fs/promises';
import { BannedKeyListError, BannedKeys, NO_BANNED_KEYS, parseBannedKeyList } from '@matrix-notary/protocol';
import { ConfigError } from './config/read';

export async function readBannedKeysFile(file: string | undefined): Promise<BannedKeys> {
  if (file === undefined) return NO_BANNED_KEYS;
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`NOTARY_BANNED_KEYS_FILE ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`]);
  }
  try {
    return new BannedKeys(parseBannedKeyList(JSON.parse(text)));
  } catch (err) {
    if (err instanceof SyntaxError || err instanceof BannedKeyListError) {
      throw new ConfigError([`NOTARY_BANNED_KEYS_FILE ${file} is not a valid ban list: ${err.message}`]);
    }
    throw err;
  }
}
