/** NOTARY_OLD_SIGNING_KEYS_FILE: Synapse's old_signing_keys shape, parsed strictly. */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { encodeBase64 } from '@matrix-notary/protocol';
import { KeyFileError, parseOldSigningKeys, readOldSigningKeysFile } from '@matrix-notary/signer';

const PUB = encodeBase64(new Uint8Array(32).fill(5));
const PUB_PADDED = Buffer.from(new Uint8Array(32).fill(5)).toString('base64');

test('reads keys and expiry times', () => {
  const text = JSON.stringify({
    'ed25519:old1': { key: PUB, expired_ts: 1_600_000_000_000 },
    'ed25519:a_Xy9': { key: PUB, expired_ts: 0 },
  });
  expect(parseOldSigningKeys(text, 'f')).toEqual({
    'ed25519:old1': { key: PUB, expired_ts: 1_600_000_000_000 },
    'ed25519:a_Xy9': { key: PUB, expired_ts: 0 },
  });
});

test('an empty object means no old keys', () => {
  expect(parseOldSigningKeys('{}', 'f')).toEqual({});
});

test('padded or URL-safe keys are published as unpadded standard base64', () => {
  const urlSafe = Buffer.from(new Uint8Array(32).fill(0xfb)).toString('base64url');
  const parsed = parseOldSigningKeys(
    JSON.stringify({ 'ed25519:a': { key: PUB_PADDED, expired_ts: 1 }, 'ed25519:b': { key: urlSafe, expired_ts: 1 } }),
    'f',
  );
  expect(parsed['ed25519:a'].key).toBe(PUB);
  expect(parsed['ed25519:b'].key).toBe(encodeBase64(new Uint8Array(32).fill(0xfb)));
});

test.each([
  ['not JSON', '{"ed25519:a": ', /is not JSON/],
  ['a JSON array', '[]', /must hold a JSON object/],
  ['a float expiry', `{"ed25519:a":{"key":"${PUB}","expired_ts":1.5}}`, /not an integer/],
  ['a duplicate key ID', `{"ed25519:a":{"key":"${PUB}","expired_ts":1},"ed25519:a":{"key":"${PUB}","expired_ts":2}}`, /duplicate key/],
  ['a key ID of another algorithm', `{"curve25519:a":{"key":"${PUB}","expired_ts":1}}`, /"curve25519:a": not an ed25519 key ID/],
  ['an invalid key ID', `{"ed25519:a-b":{"key":"${PUB}","expired_ts":1}}`, /not an ed25519 key ID/],
  ['an entry that is a string', `{"ed25519:a":"${PUB}"}`, /must be an object/],
  ['a missing key', '{"ed25519:a":{"expired_ts":1}}', /"key" must be/],
  ['a key that is not base64', '{"ed25519:a":{"key":"!!","expired_ts":1}}', /"key" must be/],
  ['a key of 31 bytes', `{"ed25519:a":{"key":"${encodeBase64(new Uint8Array(31))}","expired_ts":1}}`, /32-byte/],
  ['a missing expired_ts', `{"ed25519:a":{"key":"${PUB}"}}`, /"expired_ts" must be/],
  ['a string expired_ts', `{"ed25519:a":{"key":"${PUB}","expired_ts":"1"}}`, /"expired_ts" must be/],
  ['a negative expired_ts', `{"ed25519:a":{"key":"${PUB}","expired_ts":-1}}`, /"expired_ts" must be/],
  ['a typo in a field name', `{"ed25519:a":{"key":"${PUB}","expired_ts":1,"expires_ts":1}}`, /unknown field\(s\) "expires_ts"/],
])('refuses %s with a message naming the file', (_label, text, message) => {
  let caught: unknown;
  try {
    parseOldSigningKeys(text, '/etc/notary/old-keys.json');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(KeyFileError);
  expect((caught as Error).message).toMatch(message);
  expect((caught as Error).message).toContain('/etc/notary/old-keys.json');
});

test('reads the file from disk, and says which variable to check when it is missing', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'notary-oldkeys-'));
  try {
    const file = path.join(dir, 'old.json');
    await fs.writeFile(file, JSON.stringify({ 'ed25519:x': { key: PUB, expired_ts: 7 } }));
    expect(await readOldSigningKeysFile(file)).toEqual({ 'ed25519:x': { key: PUB, expired_ts: 7 } });
    await expect(readOldSigningKeysFile(path.join(dir, 'nope.json'))).rejects.toThrow(/ENOENT.*NOTARY_OLD_SIGNING_KEYS_FILE/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
