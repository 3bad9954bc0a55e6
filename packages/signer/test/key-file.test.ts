/** The signing key file, in Synapse's format, and the creation of new key files. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeBase64, encodeBase64 } from '@matrix-notary/protocol';
import {
  createSigningKeyFile,
  formatSigningKeyFile,
  generateSigningKey,
  generateSigningKeyFile,
  KeyFileError,
  LocalSigner,
  parseSigningKeyFile,
  randomKeyVersion,
  readSigningKeyFile,
  signingKeyId,
  writeSigningKeyFile,
} from '@matrix-notary/signer';

const SPEC_SEED = 'YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1';
const OTHER_SEED = encodeBase64(new Uint8Array(32).fill(200));

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'notary-keyfile-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Runs `fn`, expects a KeyFileError, and checks its message never quotes the file. */
function keyFileError(fn: () => unknown, ...secrets: string[]): KeyFileError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(KeyFileError);
  const err = caught as KeyFileError;
  expect(err.name).toBe('KeyFileError');
  for (const s of secrets) {
    expect(err.message).not.toContain(s);
    expect(err.message).not.toContain(s.slice(0, 12));
  }
  return err;
}

describe('parseSigningKeyFile', () => {
  test('reads a Synapse key line (the spec seed, with its non-zero trailing bits)', () => {
    const parsed = parseSigningKeyFile(`ed25519 a_Abc1 ${SPEC_SEED}`, 'k');
    expect(parsed.key.version).toBe('a_Abc1');
    expect(Buffer.from(parsed.key.seed).equals(Buffer.from(decodeBase64(SPEC_SEED)))).toBe(true);
    expect(parsed.ignoredKeyIds).toEqual([]);
    expect(signingKeyId(parsed.key)).toBe('ed25519:a_Abc1');
  });

  test.each([
    ['a trailing newline', `ed25519 a_x ${SPEC_SEED}\n`],
    ['CRLF', `ed25519 a_x ${SPEC_SEED}\r\n`],
    ['trailing spaces and blank lines', `ed25519 a_x ${SPEC_SEED}   \n\n  \n`],
    ['leading blank lines', `\n\ned25519 a_x ${SPEC_SEED}\n`],
    ['tabs between fields', `ed25519\ta_x\t${SPEC_SEED}`],
    ['a padded seed', `ed25519 a_x ${Buffer.from(decodeBase64(SPEC_SEED)).toString('base64')}`],
  ])('tolerates %s', (_label, text) => {
    const parsed = parseSigningKeyFile(text, 'k');
    expect(parsed.key.version).toBe('a_x');
    expect(Buffer.from(parsed.key.seed).equals(Buffer.from(decodeBase64(SPEC_SEED)))).toBe(true);
  });

  test('several lines: the first is current, the others are checked and reported', () => {
    const parsed = parseSigningKeyFile(`ed25519 first ${SPEC_SEED}\ned25519 second ${OTHER_SEED}\n`, 'k');
    expect(parsed.key.version).toBe('first');
    expect(parsed.ignoredKeyIds).toEqual(['ed25519:second']);
    const err = keyFileError(() => parseSigningKeyFile(`ed25519 first ${SPEC_SEED}\ned25519 second nope\n`, '/etc/k'), SPEC_SEED);
    expect(err.message).toContain('/etc/k line 2');
  });

  test.each([
    ['an empty file', '', /is empty/],
    ['a file of blank lines', '\n \n', /is empty/],
    ['a lone seed (an older Synapse format)', SPEC_SEED, /found 1.*put "ed25519 a_abcd "/],
    ['two fields', `ed25519 ${SPEC_SEED}`, /found 2/],
    ['four fields', `ed25519 a_x ${SPEC_SEED} extra`, /found 4/],
    ['another algorithm', `curve25519 a_x ${SPEC_SEED}`, /first field must be "ed25519"/],
    ['fields out of order', `ed25519 ${SPEC_SEED} a_x`, /version/],
    ['a version with a hyphen', `ed25519 a-x ${SPEC_SEED}`, /version/],
    ['a seed that is not base64', `ed25519 a_x ${SPEC_SEED.slice(0, 40)}!!!`, /not valid base64/],
    ['a 31-byte seed', `ed25519 a_x ${encodeBase64(new Uint8Array(31).fill(7))}`, /31 bytes/],
    ['a 64-byte secret key instead of a seed', `ed25519 a_x ${encodeBase64(new Uint8Array(64).fill(7))}`, /64 bytes/],
  ])('refuses %s, naming file and line, quoting nothing', (_label, text, message) => {
    const err = keyFileError(() => parseSigningKeyFile(text, '/data/signing.key'), SPEC_SEED, 'BwcHBwcHBwcHBwcH');
    expect(err.message).toMatch(message);
    expect(err.message).toContain('/data/signing.key');
  });

  test('the line number counts blank lines', () => {
    const err = keyFileError(() => parseSigningKeyFile(`\n\nbad line ${SPEC_SEED} x`, 'f'), SPEC_SEED);
    expect(err.message).toContain('f line 3');
  });
});

describe('formatting and generating', () => {
  test('format then parse gives the same key; the text is one line, unpadded', () => {
    const key = generateSigningKey();
    const text = formatSigningKeyFile(key);
    expect(text).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
    const parsed = parseSigningKeyFile(text, 'k').key;
    expect(parsed.version).toBe(key.version);
    expect(Buffer.from(parsed.seed).equals(Buffer.from(key.seed))).toBe(true);
  });

  test('formatting refuses a bad version or seed', () => {
    expect(() => formatSigningKeyFile({ version: 'a b', seed: new Uint8Array(32) })).toThrow(KeyFileError);
    expect(() => formatSigningKeyFile({ version: 'a', seed: new Uint8Array(16) })).toThrow(KeyFileError);
  });

  test('versions are a_ and 4 random alphanumerics, and vary', () => {
    const versions = new Set(Array.from({ length: 50 }, randomKeyVersion));
    for (const v of versions) expect(v).toMatch(/^a_[A-Za-z0-9]{4}$/);
    expect(versions.size).toBeGreaterThan(40);
  });

  test('generated key files hold different seeds each time', () => {
    const a = generateSigningKeyFile().split(' ')[2];
    const b = generateSigningKeyFile().split(' ')[2];
    expect(a).not.toBe(b);
  });

  test('a generated key works in a LocalSigner', async () => {
    const key = parseSigningKeyFile(generateSigningKeyFile(), 'k').key;
    const signer = await LocalSigner.create({ serverName: 'n.example', key, ownKeyValidityMs: 1000 });
    expect(signer.keyId).toBe(`ed25519:${key.version}`);
  });
});

describe('key files on disk', () => {
  test('createSigningKeyFile writes a readable key with mode 0600 and returns only its ID', async () => {
    const file = path.join(dir, 'new.key');
    const result = await createSigningKeyFile(file);
    expect(Object.keys(result)).toEqual(['keyId']);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const parsed = await readSigningKeyFile(file);
    expect(signingKeyId(parsed.key)).toBe(result.keyId);
  });

  test('mode is 0600 whatever the umask', async () => {
    const file = path.join(dir, 'umask.key');
    const old = process.umask(0o000);
    try {
      await createSigningKeyFile(file);
    } finally {
      process.umask(old);
    }
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  test('an existing file is not overwritten unless asked', async () => {
    const file = path.join(dir, 'existing.key');
    await fs.writeFile(file, `ed25519 keep ${SPEC_SEED}\n`, { mode: 0o644 });
    await expect(createSigningKeyFile(file)).rejects.toThrow(/already exists/);
    expect((await readSigningKeyFile(file)).key.version).toBe('keep');

    const { keyId } = await createSigningKeyFile(file, { overwrite: true });
    expect(keyId).not.toBe('ed25519:keep');
    expect(signingKeyId((await readSigningKeyFile(file)).key)).toBe(keyId);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  test('writeSigningKeyFile writes exactly the formatted key', async () => {
    const file = path.join(dir, 'exact.key');
    const key = { version: 'v1', seed: decodeBase64(SPEC_SEED) };
    await writeSigningKeyFile(file, key);
    expect(await fs.readFile(file, 'utf8')).toBe(formatSigningKeyFile(key));
  });

  test('a missing file says how to create one', async () => {
    const file = path.join(dir, 'missing.key');
    await expect(readSigningKeyFile(file)).rejects.toThrow(`no signing key file at ${file}: create one with \`npx matrix-notary generate-key --out ${file}\``);
  });

  test('a bad file on disk is refused with its path, without quoting it', async () => {
    const file = path.join(dir, 'bad.key');
    await fs.writeFile(file, `ed25519 a_x ${SPEC_SEED} trailing-junk\n`);
    const err = await readSigningKeyFile(file).then(
      () => new Error('expected a rejection'),
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(KeyFileError);
    expect(err.message).toContain(`${file} line 1`);
    expect(err.message).not.toContain(SPEC_SEED.slice(0, 12));
  });
});
