/** `matrix-notary generate-key [--out FILE]`: a new signing key, and what an admin must pin. */
import { encodeBase64, keyPairFromSeed } from '@matrix-notary/protocol';
import { formatSigningKeyFile, generateSigningKey, signingKeyId, writeSigningKeyFile } from '@matrix-notary/signer';
import { ROLE_HELP } from './help';

export async function generateKey(args: string[], stdout: NodeJS.WritableStream, stderr: NodeJS.WritableStream): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    stdout.write(ROLE_HELP['generate-key']);
    return 0;
  }
  if (args.length > 0 && (args[0] !== '--out' || args.length !== 2)) {
    stderr.write(`matrix-notary generate-key: unexpected arguments\n\n${ROLE_HELP['generate-key']}`);
    return 2;
  }
  const key = generateSigningKey();
  const file = args[1];
  if (file === undefined) {
    stdout.write(formatSigningKeyFile(key));
  } else {
    try {
      await writeSigningKeyFile(file, key);
    } catch (err) {
      stderr.write(`matrix-notary generate-key: ${(err as Error).message}\n`);
      return 1;
    }
    stderr.write(`wrote a new signing key to ${file}\n`);
  }
  // The public half, for trusted_key_servers; the private half is only ever in the key file.
  stderr.write(`key ID: ${signingKeyId(key)}\npublic key: ${encodeBase64(keyPairFromSeed(key.seed).publicKey)}\n`);
  return 0;
}
