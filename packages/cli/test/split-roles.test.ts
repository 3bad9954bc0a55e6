/**
 * The cluster shape with real processes: one signer, two api and two worker processes sharing
 * one Redis, reached the way operators run them (`matrix-notary signer|api|worker`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBase64, keyPairFromSeed, verifyJsonSignature } from '@matrix-notary/protocol';
import { readSigningKeyFile, signingKeyId } from '@matrix-notary/signer';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, logLines, runCli, startCli, stopWithin, waitForUrl, type RunningProcess } from './processes';

jest.setTimeout(90_000);

const NOTARY = 'notary.split.test';
const TOKEN = 'split-roles-test-token-0123456789';

let dir: string;
let origin: FakeOrigin;
let prefix: string;
const procs: RunningProcess[] = [];
let apiPorts: number[] = [];
const workerHealth: string[] = [];
let signerPort: number;
let keyFile: string;

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-split-'));
  const ca = await createTestCa();
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.caPem);
  origin = await FakeOrigin.start({ ca });
  prefix = uniquePrefix('split');
  keyFile = path.join(dir, 'signing.key');
  const gen = await runCli(['generate-key', '--out', keyFile], {});
  expect(gen.code).toBe(0);

  signerPort = await freeLoopbackPort();
  const common = {
    NOTARY_SERVER_NAME: NOTARY,
    NOTARY_SIGNER_TOKEN: TOKEN,
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_LOG_LEVEL: 'warn',
  };
  const signer = startCli(['signer'], {
    ...common,
    NOTARY_SIGNING_KEY_FILE: keyFile,
    NOTARY_SIGNER_PORT: String(signerPort),
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
    NOTARY_METRICS_BIND: '127.0.0.1',
  });
  procs.push(signer);
  await waitForUrl(`http://127.0.0.1:${signerPort}/healthz`, signer);

  const roleEnv = {
    ...common,
    NOTARY_SIGNER_URL: `http://127.0.0.1:${signerPort}`,
    NOTARY_BIND: '127.0.0.1',
    NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    NOTARY_FEDERATION_CA_FILE: path.join(dir, 'ca.pem'),
    NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
  };
  for (let i = 0; i < 2; i++) {
    const metricsPort = await freeLoopbackPort();
    const worker = startCli(['worker'], { ...roleEnv, NOTARY_METRICS_PORT: String(metricsPort), NOTARY_METRICS_BIND: '127.0.0.1' });
    procs.push(worker);
    workerHealth.push(`http://127.0.0.1:${metricsPort}/healthz`);
    await waitForUrl(workerHealth[i], worker);
  }
  apiPorts = [await freeLoopbackPort(), await freeLoopbackPort()];
  for (const port of apiPorts) {
    const api = startCli(['api'], { ...roleEnv, NOTARY_PORT: String(port), NOTARY_METRICS_PORT: String(await freeLoopbackPort()) });
    procs.push(api);
    await waitForUrl(`http://127.0.0.1:${port}/_notary/health/ready`, api);
  }
});

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await origin?.stop();
  await deletePrefix(prefix);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('50 concurrent queries through two api processes cause exactly one origin fetch, answers signed by origin and notary', async () => {
  const body = JSON.stringify({ server_keys: { [origin.serverName]: { 'ed25519:a1': {} } } });
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      fetch(`http://127.0.0.1:${apiPorts[i % 2]}/_matrix/key/v2/query`, { method: 'POST', body }).then(async (r) => ({ status: r.status, json: (await r.json()) as any })),
    ),
  );
  const empty = answers.filter((a) => a.status !== 200 || a.json.server_keys?.length !== 1).length;
  // On failure, the roles' own logs say why.
  expect({ fetches: origin.fetches, empty, logs: empty === 0 && origin.fetches === 1 ? '' : procs.map((p) => p.output()).join('\n') }).toEqual({
    fetches: 1,
    empty: 0,
    logs: '',
  });
  const { key } = await readSigningKeyFile(keyFile);
  const notaryPublic = keyPairFromSeed(key.seed).publicKey;
  for (const a of answers) {
    const entry = a.json.server_keys[0];
    expect(verifyJsonSignature(entry, origin.serverName, 'ed25519:a1', origin.current[0].pair.publicKey)).toBe(true);
    expect(verifyJsonSignature(entry, NOTARY, signingKeyId(key), notaryPublic)).toBe(true);
  }
});

test("the api serves the signer's own key response, which verifies under the key file's key", async () => {
  const res = await fetch(`http://127.0.0.1:${apiPorts[1]}/_matrix/key/v2/server`);
  const body = (await res.json()) as any;
  const { key } = await readSigningKeyFile(keyFile);
  expect(Object.keys(body.verify_keys)).toEqual([signingKeyId(key)]);
  expect(verifyJsonSignature(body, NOTARY, signingKeyId(key), decodeBase64(body.verify_keys[signingKeyId(key)].key))).toBe(true);
  expect(body.verify_keys[signingKeyId(key)].key).toBe(Buffer.from(keyPairFromSeed(key.seed).publicKey).toString('base64').replace(/=+$/, ''));
});

test('the signer demands its bearer token: missing → 401 M_MISSING_TOKEN, wrong → 401 M_UNKNOWN_TOKEN', async () => {
  const url = `http://127.0.0.1:${signerPort}/_notary/signer/v1/own-keys`;
  const missing = await fetch(url);
  expect(missing.status).toBe(401);
  expect(((await missing.json()) as any).errcode).toBe('M_MISSING_TOKEN');
  const wrong = await fetch(url, { headers: { authorization: 'Bearer not-the-token-at-all' } });
  expect(wrong.status).toBe(401);
  expect(((await wrong.json()) as any).errcode).toBe('M_UNKNOWN_TOKEN');
  const right = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(right.status).toBe(200);
});

test('a worker given the wrong signer token refuses to start, before it takes any job', async () => {
  const res = await runCli(['worker'], {
    NOTARY_SERVER_NAME: NOTARY,
    NOTARY_SIGNER_TOKEN: 'a-wrong-token-of-enough-length',
    NOTARY_SIGNER_URL: `http://127.0.0.1:${signerPort}`,
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
  });
  expect(res.code).toBe(1);
  expect(res.stderr).toBe(
    `matrix-notary worker: the signer at http://127.0.0.1:${signerPort} refused our token (HTTP 401 M_UNKNOWN_TOKEN): NOTARY_SIGNER_TOKEN must be the same for this role and the signer\n`,
  );
  expect(res.stdout).not.toContain('consuming the refresh queue');
});

test('a worker answers GET /healthz on its metrics port', async () => {
  for (const url of workerHealth) {
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  }
});

test('an api given the wrong signer token refuses to start, saying what to check', async () => {
  const res = await runCli(['api'], {
    NOTARY_SERVER_NAME: NOTARY,
    NOTARY_SIGNER_TOKEN: 'a-wrong-token-of-enough-length',
    NOTARY_SIGNER_URL: `http://127.0.0.1:${signerPort}`,
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_PORT: String(await freeLoopbackPort()),
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
  });
  expect(res.code).toBe(1);
  expect(res.output).toMatch(/NOTARY_SIGNER_TOKEN/);
  expect(res.output).not.toContain('a-wrong-token-of-enough-length');
});

// Last: every role, stopped with SIGTERM, exits 0 (stopWithin kills a role that hangs).
test('every role stops cleanly on SIGTERM and exits 0', async () => {
  const stops = await Promise.all(procs.map((p) => stopWithin(p)));
  expect(stops.map((s) => s.code)).toEqual(procs.map(() => 0));
  // Logs are JSON lines on stdout only, even while stopping (commands.test.ts checks the lines).
  for (const p of procs) expect({ stderr: p.stderr(), lines: logLines(p).length }).toEqual({ stderr: '', lines: p.stdout().trim().split('\n').filter(Boolean).length });
});
