/**
 * The notary's signing key file, in Synapse's format so a key can move between the two: one line
 * `ed25519 <version> <unpadded base64 seed>`. Like Synapse (which reads every line and signs with
 * the first), every non-blank line must be a valid key and the first is the current one; the
 * notary publishes only that one, so further lines are reported back for a warning.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Base64Error, decodeBase64, ED25519_SEED_BYTES, encodeBase64, isValidKeyId } from '@matrix-notary/protocol';
import { KeyFileError } from './errors';

export interface SigningKey {
  /** The part after `ed25519:` in the key ID. */
  readonly version: string;
  /** The 32-byte ed25519 seed: the private key. Never log, print or store it anywhere else. */
  readonly seed: Uint8Array;
}

export interface ParsedSigningKeyFile {
  /** The first key of the file: the one the notary signs with and publishes. */
  key: SigningKey;
  /** Key IDs of further lines. They are checked like the first, then not used. */
  ignoredKeyIds: string[];
}

const FORMAT = '"ed25519 <version> <unpadded base64 seed>"';
const VERSION_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function signingKeyId(key: Pick<SigningKey, 'version'>): string {
  return `ed25519:${key.version}`;
}

function isValidVersion(version: string): boolean {
  return isValidKeyId(`ed25519:${version}`);
}

/**
 * Reads the key of one line. Errors name the file and line but never quote it: whichever field is
 * wrong, the line holds (or may hold, if the fields are out of order) the seed.
 */
function parseLine(line: string, where: string): SigningKey {
  const fields = line.split(/\s+/);
  if (fields.length !== 3) {
    const hint =
      fields.length === 1 ? ' (a lone base64 seed is an older Synapse format: put "ed25519 a_abcd " before it)' : '';
    throw new KeyFileError(`${where}: expected 3 fields ${FORMAT}, found ${fields.length}${hint}`);
  }
  const [algorithm, version, seedBase64] = fields;
  if (algorithm !== 'ed25519') throw new KeyFileError(`${where}: the first field must be "ed25519", the only algorithm Matrix signs with`);
  if (!isValidVersion(version)) {
    throw new KeyFileError(`${where}: the key version (second field) must be letters, digits and "_" only`);
  }
  let seed: Uint8Array;
  try {
    seed = decodeBase64(seedBase64);
  } catch (err) {
    if (err instanceof Base64Error) throw new KeyFileError(`${where}: the seed (third field) is not valid base64`);
    throw err;
  }
  if (seed.length !== ED25519_SEED_BYTES) {
    throw new KeyFileError(`${where}: the seed (third field) is ${seed.length} bytes, an ed25519 seed is ${ED25519_SEED_BYTES}`);
  }
  return { version, seed };
}

/** Parses a signing key file's text. `fileName` only goes into error messages. */
export function parseSigningKeyFile(text: string, fileName: string): ParsedSigningKeyFile {
  const keys: SigningKey[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim(); // trailing whitespace, CRLF line ends
    if (line !== '') keys.push(parseLine(line, `signing key file ${fileName} line ${i + 1}`));
  });
  if (keys.length === 0) throw new KeyFileError(`signing key file ${fileName} is empty: expected one line ${FORMAT}`);
  const [key, ...rest] = keys;
  return { key, ignoredKeyIds: rest.map(signingKeyId) };
}

/** The file's text for a key: one line and a newline, as Synapse writes it. */
export function formatSigningKeyFile(key: SigningKey): string {
  if (!isValidVersion(key.version)) throw new KeyFileError('the key version must be letters, digits and "_" only');
  if (key.seed.length !== ED25519_SEED_BYTES) throw new KeyFileError(`an ed25519 seed is ${ED25519_SEED_BYTES} bytes`);
  return `ed25519 ${key.version} ${encodeBase64(key.seed)}\n`;
}

/** A version like Synapse's: `a_` and four random letters or digits. */
export function randomKeyVersion(): string {
  let suffix = '';
  for (let i = 0; i < 4; i++) suffix += VERSION_ALPHABET[randomInt(VERSION_ALPHABET.length)];
  return `a_${suffix}`;
}

/** A new key with a random seed from the operating system's CSPRNG. */
export function generateSigningKey(): SigningKey {
  return { version: randomKeyVersion(), seed: new Uint8Array(randomBytes(ED25519_SEED_BYTES)) };
}

/** The text of a new signing key file (what `generate-key` prints without `--out`). */
export function generateSigningKeyFile(): string {
  return formatSigningKeyFile(generateSigningKey());
}

/** Reads and parses a signing key file, with errors that say what to do. */
export async function readSigningKeyFile(file: string): Promise<ParsedSigningKeyFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new KeyFileError(`no signing key file at ${file}: create one with \`npx matrix-notary generate-key --out ${file}\``);
    }
    throw new KeyFileError(`cannot read signing key file ${file} (${code ?? String(err)}): check its path and permissions`);
  }
  return parseSigningKeyFile(text, file);
}

export interface WriteKeyFileOptions {
  /** Replace an existing file. Off by default: overwriting a key loses it for good. */
  overwrite?: boolean;
}

/**
 * Writes a key file readable by its owner only (0600). Without `overwrite`, an existing file is
 * refused (the open is exclusive, so two processes cannot both create it). With it, the new file
 * is written beside the old one and renamed over it, so a crash leaves one whole key file.
 */
export async function writeSigningKeyFile(file: string, key: SigningKey, options: WriteKeyFileOptions = {}): Promise<void> {
  const text = formatSigningKeyFile(key);
  const target = options.overwrite ? path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`) : file;
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(target, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && !options.overwrite) {
      throw new KeyFileError(`signing key file ${file} already exists: refusing to overwrite a key (move it away first)`);
    }
    throw new KeyFileError(`cannot create signing key file ${file}: ${whyNotWritable(err as NodeJS.ErrnoException, path.dirname(file))}`);
  }
  try {
    await handle.chmod(0o600); // the mode given to open is reduced by the umask; make sure
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (target !== file) {
    try {
      await fs.rename(target, file);
    } catch (err) {
      await fs.rm(target, { force: true });
      throw new KeyFileError(`cannot replace signing key file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
}

/** A reason a person can act on, for a file that could not be created in `dir`. */
function whyNotWritable(err: NodeJS.ErrnoException, dir: string): string {
  switch (err.code) {
    case 'ENOENT':
      return `the directory ${dir} does not exist (create it first)`;
    case 'ENOTDIR':
      return `${dir} is not a directory`;
    case 'EACCES':
    case 'EPERM':
      return `no permission to write in ${dir}`;
    case 'EROFS':
      return `${dir} is on a read-only file system`;
    default:
      return `${err.code ?? err.message}`;
  }
}

/** Creates a new key file at `file` and returns the new key's ID (never the key). */
export async function createSigningKeyFile(file: string, options: WriteKeyFileOptions = {}): Promise<{ keyId: string }> {
  const key = generateSigningKey();
  await writeSigningKeyFile(file, key, options);
  return { keyId: signingKeyId(key) };
}
