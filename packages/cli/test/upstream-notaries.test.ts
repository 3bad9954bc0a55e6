/**
 * An upstream notary as operators run it: two real `matrix-notary all` processes on the test
 * Redis. Notary B has fetched an HTTPS origin, which then goes offline; notary A, asked about it
 * for the first time, cannot reach it and lists B in NOTARY_UPSTREAM_NOTARIES_FILE with B's public
 * key. A client asking A gets the origin's keys, checked and countersigned by A (B's signature not
 * passed on), learned through B; `matrix-notary inspect` on A shows the response as learned and the
 * binding as provisional; A's metrics count the ask. An origin A's address policy forbids (B's
 * allows it) is never learned from B.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotaryKeySource } from '@matrix-notary/keyring';
import { encodeBase64, keyPairFromSeed, verifyJsonSignature } from '@matrix-notary/protocol';
import { readSigningKeyFile, signingKeyId } from '@matrix-notary/signer';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, runCli, startCli, waitForUrl, type RunningProcess } from './processes';

jest.setTimeout(90_000);

const NAME_A = 'notary-a.test';
const NAME_B = 'notary-b.test';

let dir: string;
let origin: FakeOrigin;
let forbiddenForA: FakeOrigin;
const procs: RunningProcess[] = [];
const prefixes: string[] = [];

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await origin?.stop();
  await forbiddenForA?.stop();
  for (const p of prefixes) await deletePrefix(p);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

interface Running {
  url: string;
  metricsUrl: string;
  prefix: string;
  keyId: string;
  publicKey: Uint8Array;
  process: RunningProcess;
}

async function startNotaryProcess(name: string, env: Record<string, string>): Promise<Running> {
  const keyFile = path.join(dir, `${name}.key`);
  expect((await runCli(['generate-key', '--out', keyFile], {})).code).toBe(0);
  const { key } = await readSigningKeyFile(keyFile);
  const prefix = uniquePrefix(name.replace(/\W/g, ''));
  prefixes.push(prefix);
  const [port, metricsPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const proc = startCli(['all'], {
    NOTARY_SERVER_NAME: name,
    NOTARY_SIGNING_KEY_FILE: keyFile,
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_PORT: String(port),
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_PORT: String(metricsPort),
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_FEDERATION_CA_FILE: path.join(dir, 'ca.pem'),
    NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
    NOTARY_LOG_LEVEL: 'info',
    ...env,
  });
  procs.push(proc);
  const url = `http://127.0.0.1:${port}`;
  await waitForUrl(`${url}/_notary/health/ready`, proc);
  return { url, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, prefix, keyId: signingKeyId(key), publicKey: keyPairFromSeed(key.seed).publicKey, process: proc };
}

test('notary A, which cannot reach the origin, learns its keys from notary B and serves them countersigned by A', async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-upstream-'));
  const ca = await createTestCa();
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.caPem);
  origin = await FakeOrigin.start({ ca });
  forbiddenForA = await FakeOrigin.start({ ca, bind: '127.0.0.50' });

  const b = await startNotaryProcess(NAME_B, { NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32,127.0.0.50/32' });
  // B holds both origins; then the first goes offline.
  for (const o of [origin, forbiddenForA]) expect(await entriesFor(b.url, o.serverName)).toHaveLength(1);
  origin.mode = 'offline';

  const upstreams = path.join(dir, 'upstreams.json');
  fs.writeFileSync(upstreams, JSON.stringify([{ server_name: NAME_B, url: b.url, verify_keys: { [b.keyId]: encodeBase64(b.publicKey) } }]));
  const a = await startNotaryProcess(NAME_A, { NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32', NOTARY_UPSTREAM_NOTARIES_FILE: upstreams });

  const entries = await entriesFor(a.url, origin.serverName);
  expect({ entries: entries.length, logs: entries.length === 1 ? '' : a.process.output() + b.process.output() }).toEqual({ entries: 1, logs: '' });
  const [entry] = entries;
  expect(verifyJsonSignature(entry, origin.serverName, 'ed25519:a1', origin.current[0].pair.publicKey)).toBe(true);
  expect(verifyJsonSignature(entry, NAME_A, a.keyId, a.publicKey)).toBe(true);
  expect(Object.keys(entry.signatures as object).sort()).toEqual([NAME_A, origin.serverName].sort()); // B's signature is not passed on (synapse#8441)
  expect(origin.fetches).toBe(2); // B's fetch, and A's attempt while it was offline

  // A client pinning A's key trusts the answer (the keyring checks A's and the origin's signatures).
  const source = new NotaryKeySource({ url: a.url, pinnedKeys: { [a.keyId]: encodeBase64(a.publicKey) } });
  const got = await source.fetchKeys({ keys: new Map([[origin.serverName, new Set(['ed25519:a1'])]]), minimumValidUntilTs: 0 });
  expect(got.failures).toEqual([]);
  expect(got.records.map((r) => r.key)).toEqual([origin.current[0].publicKeyBase64]);

  // The origin's failure is recorded just after the learned keys are stored: read until it is there.
  const report = await inspectUntil(a.prefix, origin.serverName, (r) => r.fetch.last_error !== null);
  expect(report.responses.map((r: { learned_from: string | null }) => r.learned_from)).toEqual([NAME_B]);
  expect(report.bindings.map((x: { key_id: string; provisional: boolean }) => [x.key_id, x.provisional])).toEqual([['ed25519:a1', true]]);
  expect(report.fetch.last_error.reason).toBe('connection');
  const text = await runCli(['inspect', origin.serverName], { REDIS_URL: testRedisUrl(), NOTARY_REDIS_PREFIX: a.prefix });
  expect(text.stdout).toContain(`learned from upstream ${NAME_B}`);
  expect(text.stdout).toContain('provisional (learned from an upstream notary)');

  // An origin whose address A's policy forbids is never learned from an upstream, though B holds it.
  expect(await entriesFor(a.url, forbiddenForA.serverName)).toEqual([]);
  const refused = await inspectUntil(a.prefix, forbiddenForA.serverName, (r) => r.fetch.last_error !== null);
  expect(refused.responses).toEqual([]);
  expect(refused.fetch.last_error.reason).toBe('forbidden_address');

  const metrics = await (await fetch(a.metricsUrl)).text();
  expect(metrics).toMatch(/^matrix_notary_upstream_queries_total\{outcome="stored",role="all"\} 1$/m);
  for (const outcome of ['empty', 'refused', 'failed', 'not_stored']) {
    expect(metrics).toMatch(new RegExp(`^matrix_notary_upstream_queries_total\\{outcome="${outcome}",role="all"\\} 0$`, 'm'));
  }
});

async function entriesFor(url: string, serverName: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${url}/_matrix/key/v2/query`, {
    method: 'POST',
    body: JSON.stringify({ server_keys: { [serverName]: { 'ed25519:a1': {} } } }),
  });
  return ((await res.json()) as { server_keys: Array<Record<string, unknown>> }).server_keys;
}

/** `matrix-notary inspect SERVER --json` on a notary's Redis prefix, read again (at most 20 times) until `done`. */
async function inspectUntil(prefix: string, serverName: string, done: (report: any) => boolean): Promise<any> {
  let report: any;
  for (let i = 0; i < 20; i++) {
    const inspected = await runCli(['inspect', serverName, '--json'], { REDIS_URL: testRedisUrl(), NOTARY_REDIS_PREFIX: prefix });
    expect(inspected.code).toBe(0);
    report = JSON.parse(inspected.stdout);
    if (done(report)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return report;
}
