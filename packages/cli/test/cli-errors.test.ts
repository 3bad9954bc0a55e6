/** The CLI's one-line answers to configuration a person got wrong, and generate-key. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSigningKeyFile } from '@matrix-notary/signer';
import { assertBuilt, runCli } from './processes';

jest.setTimeout(60_000);

beforeAll(() => assertBuilt());

test('a split role without NOTARY_SERVER_NAME and NOTARY_SIGNER_TOKEN names both and exits 1', async () => {
  const res = await runCli(['api'], { REDIS_URL: 'redis://127.0.0.1:1' });
  expect(res.code).toBe(1);
  expect(res.output).toContain('NOTARY_SERVER_NAME is required');
  expect(res.output).toContain('NOTARY_SIGNER_TOKEN is required');
  expect(res.output).not.toMatch(/\n\s+at /); // no stack trace
});

test('an invalid value names the variable and does not echo a secret', async () => {
  const res = await runCli(['worker'], { NOTARY_SERVER_NAME: 'n.example', NOTARY_SIGNER_TOKEN: 'short', NOTARY_ORIGIN_MIN_INTERVAL_S: 'soon' });
  expect(res.code).toBe(1);
  expect(res.output).toContain('NOTARY_SIGNER_TOKEN must be at least 16 characters');
  expect(res.output).toContain('NOTARY_ORIGIN_MIN_INTERVAL_S must be a whole number');
  expect(res.output).not.toContain('short');
});

test('an invalid NOTARY_SERVER_NAME is refused', async () => {
  const res = await runCli(['signer'], { NOTARY_SERVER_NAME: 'not a name', NOTARY_SIGNER_TOKEN: 'x'.repeat(20) });
  expect(res.code).toBe(1);
  expect(res.output).toContain('NOTARY_SERVER_NAME must be a server name');
});

test('the signer with a missing key file says how to create one', async () => {
  const res = await runCli(['signer'], { NOTARY_SERVER_NAME: 'n.example', NOTARY_SIGNER_TOKEN: 'x'.repeat(20), NOTARY_SIGNING_KEY_FILE: '/nonexistent/signing.key' });
  expect(res.code).toBe(1);
  expect(res.output).toContain('generate-key');
});

test('generate-key writes a 0600 key file in Synapse format, and prints one without --out', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-genkey-'));
  try {
    const file = path.join(dir, 'k.key');
    expect((await runCli(['generate-key', '--out', file], {})).code).toBe(0);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
    expect((await readSigningKeyFile(file)).key.seed).toHaveLength(32);
    // It refuses to overwrite an existing key.
    const again = await runCli(['generate-key', '--out', file], {});
    expect(again.code).toBe(1);
    const printed = await runCli(['generate-key'], {});
    expect(printed.code).toBe(0);
    expect(printed.output).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an unknown command prints the usage and exits 2', async () => {
  const res = await runCli(['frobnicate'], {});
  expect(res.code).toBe(2);
  expect(res.output).toContain('usage: matrix-notary');
});
