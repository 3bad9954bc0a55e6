/**
 * The private key never leaves the signer: every kind of request, good and bad, is sent to a
 * signer server logging at its most verbose level, and neither any response (body or headers),
 * any error a client sees, nor any log line holds the seed in any spelling. Nor does the log hold
 * the bearer token.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { Registry } from 'prom-client';
import { encodeBase64 } from '@matrix-notary/protocol';
import { formatSigningKeyFile, loadLocalSigner, startSignerServer } from '@matrix-notary/signer';
import { COUNTERSIGN_PATH, OWN_KEYS_PATH, RemoteSigner } from '@matrix-notary/signer-client';
import {
  captureLogs,
  DAY_MS,
  expectNoSecret,
  NOTARY_KEY,
  NOTARY_NAME,
  NOTARY_SEED,
  NOW_MS,
  originResponse,
  originResponseBytes,
  rawRequest,
  secretSpellings,
} from './helpers';

const TOKEN = 'leak-test-token-5d1c7e';

test('the spellings checked for include the seed as base64 and hex', () => {
  const spellings = secretSpellings();
  expect(spellings).toContain(encodeBase64(NOTARY_SEED));
  expect(spellings).toContain(Buffer.from(NOTARY_SEED).toString('hex'));
});

test('no response, client error or log line holds the key', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'notary-leak-'));
  const keyFile = path.join(dir, 'signing.key');
  // A second line in the key file makes loadLocalSigner warn, so that log path is covered too.
  await fs.writeFile(keyFile, formatSigningKeyFile(NOTARY_KEY) + formatSigningKeyFile({ version: 'spare', seed: NOTARY_SEED }));
  const logs = captureLogs();
  const signer = await loadLocalSigner({
    serverName: NOTARY_NAME,
    signingKeyFile: keyFile,
    ownKeyValidityMs: DAY_MS,
    logger: logs.logger,
    now: () => NOW_MS,
  });
  const registry = new Registry();
  const server = await startSignerServer({ signer, port: 0, bind: '127.0.0.1', token: TOKEN, maxBodyBytes: 2048, logger: logs.logger, registry });
  const remote = new RemoteSigner({ url: `http://127.0.0.1:${server.port}`, token: TOKEN, timeoutMs: 5000, serverName: NOTARY_NAME });
  const wrongToken = new RemoteSigner({ url: `http://127.0.0.1:${server.port}`, token: 'wrong', timeoutMs: 5000, serverName: NOTARY_NAME });
  const seen: string[] = [];
  const auth = { Authorization: `Bearer ${TOKEN}` };
  try {
    const requests = [
      { path: '/healthz' },
      { path: OWN_KEYS_PATH },
      { path: OWN_KEYS_PATH, headers: { Authorization: 'Bearer wrong' } },
      { path: OWN_KEYS_PATH, headers: auth },
      { method: 'POST', path: OWN_KEYS_PATH, headers: auth, body: Buffer.from('{}') },
      { method: 'POST', path: COUNTERSIGN_PATH, headers: auth, body: originResponseBytes() },
      { method: 'POST', path: COUNTERSIGN_PATH, headers: auth, body: Buffer.from('not json') },
      { method: 'POST', path: COUNTERSIGN_PATH, headers: auth, body: Buffer.from(JSON.stringify({ ...originResponse(), valid_until_ts: 1 })) },
      { method: 'POST', path: COUNTERSIGN_PATH, headers: auth, body: Buffer.from(JSON.stringify(originResponse({ serverName: NOTARY_NAME }))) },
      { method: 'POST', path: COUNTERSIGN_PATH, headers: auth, body: Buffer.alloc(8192, 0x20) },
      { path: '/_notary/signer/v1/secret', headers: auth },
    ];
    for (const r of requests) {
      const res = await rawRequest(server.port, r);
      seen.push(JSON.stringify(res.headers), res.body.toString('utf8'));
    }
    seen.push((await remote.ownKeys()).bytes.toString('utf8'));
    seen.push((await remote.countersign(originResponseBytes())).toString('utf8'));
    for (const attempt of [
      remote.countersign(Buffer.from('[]')),
      remote.countersign(Buffer.alloc(8192, 0x20)),
      wrongToken.ownKeys(),
    ]) {
      const err = await attempt.then(
        () => new Error('expected a rejection'),
        (e: unknown) => e as Error,
      );
      seen.push(err.message, inspect(err), JSON.stringify(err));
    }
    // After close the key is wiped; the 500s that follow must not say anything about it either.
    await signer.close();
    const afterClose = await rawRequest(server.port, { path: OWN_KEYS_PATH, headers: auth });
    expect(afterClose.status).toBe(500);
    seen.push(afterClose.body.toString('utf8'));
    seen.push(await registry.metrics());
  } finally {
    await remote.close();
    await wrongToken.close();
    await server.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }

  const logText = logs.text();
  // The checks looked at real output: the public key and refusals are there.
  expect(logText).toContain(signer.publicKey);
  expect(logText).toContain('ignoredKeyIds');
  expect(logText).toContain('bad_signature');
  expect(logText).toContain('signer request failed');
  expect(seen.join('\n')).toContain('M_NOT_SIGNABLE');

  expectNoSecret(seen.join('\n'));
  expectNoSecret(logText);
  expect(logText).not.toContain(TOKEN);
});
