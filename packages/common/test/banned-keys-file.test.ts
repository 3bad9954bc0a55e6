/** NOTARY_BANNED_KEYS_FILE as the roles read it at start, and the list shipped in deploy/. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, readBannedKeysFile } from '@matrix-notary/common';
import { normalizeKeyBody } from '@matrix-notary/protocol';

const SHIPPED = path.resolve(__dirname, '..', '..', '..', 'deploy', 'banned-keys.json');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'banned-file-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

test('deploy/banned-keys.json holds Synapse\'s banned key, for every server, with its source', async () => {
  const banned = await readBannedKeysFile(SHIPPED);
  const synapseKey = normalizeKeyBody('l/O9hxMVKB6Lg+3Hqf0FQQZhVESQcMzbPN1Cz2nM3og=');
  expect(banned.match('any.example.org', 'ed25519:auto', synapseKey)?.note).toMatch(/ELEMENTSEC-2025-1670.*element-hq\/synapse/);
  expect(banned.size).toBe(1);
});

test('no file set: nothing is banned', async () => {
  expect((await readBannedKeysFile(undefined)).size).toBe(0);
});

test.each([
  ['a file that does not exist', () => path.join(dir, 'missing.json'), /NOTARY_BANNED_KEYS_FILE .*missing\.json cannot be read \(ENOENT\)/],
  ['a file that is not JSON', () => write('bad.json', '[{'), /NOTARY_BANNED_KEYS_FILE .* is not a valid ban list/],
  ['an entry without a key', () => write('nokey.json', '[{"server_name":"a.example"}]'), /entry 0 has no "key"/],
])('%s stops the role with a ConfigError naming the variable', async (_label, file, message) => {
  const p = readBannedKeysFile(file());
  await expect(p).rejects.toThrow(ConfigError);
  await expect(readBannedKeysFile(file())).rejects.toThrow(message);
});
