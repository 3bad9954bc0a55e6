/**
 * NOTARY_EXTRA_SIGNING_KEY_FILES: keys that sign every answer beside the current key during a
 * rotation. The notary's own response lists them in verify_keys and is signed by each; every
 * countersignature carries one signature per key; the key files are checked at start.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import {
  canonicalJsonBytes,
  encodeBase64,
  keyPairFromSeed,
  parseStrictJson,
  verifyJsonSignature,
  type JsonObject,
} from '@matrix-notary/protocol';
import {
  formatSigningKeyFile,
  KeyFileError,
  loadLocalSigner,
  LocalSigner,
  startSignerServer,
  type SigningKey,
} from '@matrix-notary/signer';
import { RemoteSigner } from '@matrix-notary/signer-client';
import { captureLogs, DAY_MS, NOTARY_KEY, NOTARY_NAME, NOTARY_SEED, NOW_MS, originKeyPair, originResponseBytes } from './helpers';

/** The rotation's new key: bytes 201..232, so it appears nowhere by accident. */
const EXTRA_SEED = Uint8Array.from({ length: 32 }, (_, i) => 201 + i);
const EXTRA_KEY: SigningKey = { version: 'b_Next', seed: EXTRA_SEED };
const THIRD_KEY: SigningKey = { version: 'c_Third', seed: new Uint8Array(32).fill(77) };

const publicKeyOf = (seed: Uint8Array): Uint8Array => keyPairFromSeed(seed).publicKey;

function signer(extraKeys: SigningKey[], oldKeys = {}): LocalSigner {
  return new LocalSigner({ serverName: NOTARY_NAME, key: NOTARY_KEY, extraKeys, oldKeys, ownKeyValidityMs: DAY_MS, now: () => NOW_MS });
}

function notarySignatureIds(parsed: JsonObject): string[] {
  return Object.keys((parsed.signatures as JsonObject)[NOTARY_NAME] as JsonObject).sort();
}

describe('a signer with an extra key', () => {
  test('its own key response lists both keys in verify_keys, canonical, and is signed by each', async () => {
    const own = await signer([EXTRA_KEY], { 'ed25519:old': { key: encodeBase64(new Uint8Array(32).fill(9)), expired_ts: 5 } }).ownKeys();
    const parsed = parseStrictJson(own.bytes.toString('utf8')) as JsonObject;
    expect(canonicalJsonBytes(parsed).equals(own.bytes)).toBe(true);
    expect(parsed.verify_keys).toEqual({
      'ed25519:a_Test': { key: encodeBase64(publicKeyOf(NOTARY_SEED)) },
      'ed25519:b_Next': { key: encodeBase64(publicKeyOf(EXTRA_SEED)) },
    });
    expect(Object.keys(parsed.old_verify_keys as JsonObject)).toEqual(['ed25519:old']);
    expect(notarySignatureIds(parsed)).toEqual(['ed25519:a_Test', 'ed25519:b_Next']);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:a_Test', publicKeyOf(NOTARY_SEED))).toBe(true);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:b_Next', publicKeyOf(EXTRA_SEED))).toBe(true);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:b_Next', publicKeyOf(NOTARY_SEED))).toBe(false);
    expect(own.verifyKeys).toEqual(parsed.verify_keys);
  });

  test('a countersigned origin response carries one notary signature per key, each verifying', async () => {
    const out = await signer([EXTRA_KEY, THIRD_KEY]).countersign(originResponseBytes());
    const parsed = parseStrictJson(out.toString('utf8')) as JsonObject;
    expect(notarySignatureIds(parsed)).toEqual(['ed25519:a_Test', 'ed25519:b_Next', 'ed25519:c_Third']);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:a_Test', publicKeyOf(NOTARY_SEED))).toBe(true);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:b_Next', publicKeyOf(EXTRA_SEED))).toBe(true);
    expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:c_Third', publicKeyOf(THIRD_KEY.seed))).toBe(true);
    expect(verifyJsonSignature(parsed, 'origin.example', 'ed25519:o1', originKeyPair().publicKey)).toBe(true);
  });

  test('without extra keys there is exactly one key and one signature', async () => {
    const own = parseStrictJson((await signer([]).ownKeys()).bytes.toString('utf8')) as JsonObject;
    expect(Object.keys(own.verify_keys as JsonObject)).toEqual(['ed25519:a_Test']);
    expect(notarySignatureIds(own)).toEqual(['ed25519:a_Test']);
  });

  test('exposes the extra key ID and public key, never a private key', () => {
    const s = signer([EXTRA_KEY]);
    expect(s.keyId).toBe('ed25519:a_Test');
    expect(s.extraKeys).toEqual([{ keyId: 'ed25519:b_Next', publicKey: encodeBase64(publicKeyOf(EXTRA_SEED)) }]);
    const shown = JSON.stringify(s) + inspect(s, { showHidden: true, depth: Infinity, getters: true });
    expect(shown).toContain('ed25519:b_Next');
    for (const seed of [EXTRA_SEED, NOTARY_SEED]) {
      expect(shown).not.toContain(encodeBase64(seed));
      expect(shown).not.toContain(Buffer.from(seed).toString('hex'));
    }
  });

  test.each([
    ['the current key ID', [{ version: 'a_Test', seed: EXTRA_SEED }], {}, /ed25519:a_Test is given twice/],
    ['another extra key ID', [EXTRA_KEY, { version: 'b_Next', seed: THIRD_KEY.seed }], {}, /ed25519:b_Next is given twice/],
    ['an old key ID', [EXTRA_KEY], { 'ed25519:b_Next': { key: encodeBase64(publicKeyOf(EXTRA_SEED)), expired_ts: 1 } }, /also listed as an old key/],
  ])('refuses an extra key that repeats %s', (_label, extras, oldKeys, message) => {
    expect(() => signer(extras as SigningKey[], oldKeys)).toThrow(message);
  });

  test('through the signer role\'s HTTP API the api and worker see both keys and both signatures', async () => {
    const token = 'extra-keys-test-token';
    const server = await startSignerServer({
      signer: signer([EXTRA_KEY]),
      port: 0,
      bind: '127.0.0.1',
      token,
      maxBodyBytes: 16 * 1024,
      logger: captureLogs().logger,
    });
    const remote = new RemoteSigner({ url: `http://127.0.0.1:${server.port}`, token, timeoutMs: 5000, serverName: NOTARY_NAME });
    try {
      const own = await remote.ownKeys();
      expect(Object.keys(own.verifyKeys).sort()).toEqual(['ed25519:a_Test', 'ed25519:b_Next']);
      const parsed = parseStrictJson((await remote.countersign(originResponseBytes())).toString('utf8')) as JsonObject;
      expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:b_Next', publicKeyOf(EXTRA_SEED))).toBe(true);
      expect(verifyJsonSignature(parsed, NOTARY_NAME, 'ed25519:a_Test', publicKeyOf(NOTARY_SEED))).toBe(true);
    } finally {
      await remote.close();
      await server.stop();
    }
  });
});

describe('loading NOTARY_EXTRA_SIGNING_KEY_FILES', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'notary-extra-keys-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function write(name: string, text: string): Promise<string> {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    return file;
  }

  async function load(extraSigningKeyFiles: string[], oldSigningKeysFile?: string) {
    const logs = captureLogs();
    const signingKeyFile = await write('current.key', formatSigningKeyFile(NOTARY_KEY));
    const loaded = loadLocalSigner({
      serverName: NOTARY_NAME,
      signingKeyFile,
      extraSigningKeyFiles,
      oldSigningKeysFile,
      ownKeyValidityMs: DAY_MS,
      logger: logs.logger,
      now: () => NOW_MS,
    });
    return { loaded, logs };
  }

  /** The one-line error a start-up with these files ends with; never a line of a key file. */
  async function startError(extra: string[], oldSigningKeysFile?: string): Promise<string> {
    const { loaded } = await load(extra, oldSigningKeysFile);
    const err = await loaded.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KeyFileError);
    const message = (err as Error).message;
    expect(message).not.toContain('\n');
    for (const seed of [EXTRA_SEED, NOTARY_SEED]) expect(message).not.toContain(encodeBase64(seed));
    return message;
  }

  test('two files: both keys sign, and the start is logged with their IDs and public keys only', async () => {
    const files = [await write('next.key', formatSigningKeyFile(EXTRA_KEY)), await write('third.key', formatSigningKeyFile(THIRD_KEY))];
    const { loaded, logs } = await load(files);
    const s = await loaded;
    expect(s.extraKeys.map((k) => k.keyId)).toEqual(['ed25519:b_Next', 'ed25519:c_Third']);
    const line = JSON.parse(logs.text().trim().split('\n').pop()!) as Record<string, unknown>;
    expect(line.msg).toMatch(/signed by the current key and each extra key/);
    expect(line.extraKeys).toEqual([
      { keyId: 'ed25519:b_Next', publicKey: encodeBase64(publicKeyOf(EXTRA_SEED)) },
      { keyId: 'ed25519:c_Third', publicKey: encodeBase64(publicKeyOf(THIRD_KEY.seed)) },
    ]);
    expect(logs.text()).not.toContain(encodeBase64(EXTRA_SEED));
  });

  test('a missing file is refused naming the variable and the file', async () => {
    const missing = path.join(dir, 'nope.key');
    const message = await startError([missing]);
    expect(message).toMatch(/^NOTARY_EXTRA_SIGNING_KEY_FILES: no signing key file at /);
    expect(message).toContain(missing);
  });

  test('an unreadable file is refused naming the variable and the file', async () => {
    const notAFile = path.join(dir, 'a-directory.key');
    await fs.mkdir(notAFile);
    const message = await startError([notAFile]);
    expect(message).toMatch(/^NOTARY_EXTRA_SIGNING_KEY_FILES: cannot read signing key file .*\(EISDIR\)/);
    expect(message).toContain(notAFile);
  });

  test('a file that is not a key is refused naming the variable, without quoting it', async () => {
    const bad = await write('bad.key', `ed25519 b_Next ${encodeBase64(EXTRA_SEED)} trailing\n`);
    const message = await startError([bad]);
    expect(message).toMatch(/^NOTARY_EXTRA_SIGNING_KEY_FILES: signing key file .*bad\.key line 1: expected 3 fields/);
  });

  test('an extra key with the current key\'s ID is refused naming both files', async () => {
    const clash = await write('clash.key', formatSigningKeyFile({ version: 'a_Test', seed: EXTRA_SEED }));
    const message = await startError([clash]);
    expect(message).toMatch(/^NOTARY_EXTRA_SIGNING_KEY_FILES: the key in .*clash\.key has the key ID ed25519:a_Test, already used by the current key \(NOTARY_SIGNING_KEY_FILE .*current\.key\)/);
  });

  test('the same key ID in two extra files (or one file listed twice) is refused', async () => {
    const next = await write('next.key', formatSigningKeyFile(EXTRA_KEY));
    expect(await startError([next, next])).toMatch(/ed25519:b_Next, already used by the extra key in .*next\.key/);
    const again = await write('again.key', formatSigningKeyFile({ version: 'b_Next', seed: THIRD_KEY.seed }));
    expect(await startError([next, again])).toMatch(/the key in .*again\.key has the key ID ed25519:b_Next, already used by the extra key in .*next\.key/);
  });

  test('an extra key whose ID NOTARY_OLD_SIGNING_KEYS_FILE lists as retired is refused', async () => {
    const next = await write('next.key', formatSigningKeyFile(EXTRA_KEY));
    const old = await write('old.json', JSON.stringify({ 'ed25519:b_Next': { key: encodeBase64(publicKeyOf(EXTRA_SEED)), expired_ts: 1 } }));
    const message = await startError([next], old);
    expect(message).toMatch(/^NOTARY_EXTRA_SIGNING_KEY_FILES: the key in .*next\.key has the key ID ed25519:b_Next, which NOTARY_OLD_SIGNING_KEYS_FILE .*old\.json lists as retired/);
  });

  test('the current key listed as retired is refused naming both variables', async () => {
    const old = await write('old.json', JSON.stringify({ 'ed25519:a_Test': { key: encodeBase64(publicKeyOf(NOTARY_SEED)), expired_ts: 1 } }));
    const message = await startError([], old);
    expect(message).toMatch(/^NOTARY_OLD_SIGNING_KEYS_FILE .*old\.json lists the current key ed25519:a_Test \(NOTARY_SIGNING_KEY_FILE .*current\.key\)/);
  });
});
