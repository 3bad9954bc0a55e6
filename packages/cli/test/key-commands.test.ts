/**
 * `matrix-notary inspect` and `matrix-notary keys evict` as operators run them: child processes of
 * the built CLI, reading the same Redis (REDIS_URL, NOTARY_REDIS_PREFIX) as a notary (real api and
 * worker instances) that fetched a real HTTPS origin which rotated twice and then reused a key ID.
 */
import { spawn } from 'node:child_process';
import { keyFingerprint } from '@matrix-notary/protocol';
import { createTestCa, FakeOrigin, testRedisUrl, type OriginKey, type TestCa } from '@matrix-notary/testing';
import { counterValue, postQuery, startNotary, type Notary } from '../../api/test/notary-harness';
import { assertBuilt, CLI } from './processes';

jest.setTimeout(60_000);

const DAY_MS = 24 * 60 * 60 * 1000;

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI with stdout and stderr apart (--json output must be parseable alone). */
function run(args: string[], env: Record<string, string>, timeoutMs = 20_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

let ca: TestCa;
let n: Notary;
let o: FakeOrigin;
let env: Record<string, string>;
const keys: Record<string, OriginKey> = {};
let a1ExpiredTs: number;

function query(keyIds: string[], minValidUntilTs?: number) {
  const criteria: Record<string, unknown> = {};
  for (const k of keyIds) criteria[k] = minValidUntilTs === undefined ? {} : { minimum_valid_until_ts: minValidUntilTs };
  return postQuery(n.url('/_matrix/key/v2/query'), { server_keys: { [o.serverName]: criteria } });
}

beforeAll(async () => {
  assertBuilt();
  ca = await createTestCa();
  n = await startNotary({ ca });
  o = await FakeOrigin.start({ ca });
  env = { REDIS_URL: testRedisUrl(), NOTARY_REDIS_PREFIX: n.prefix };

  keys.a1 = o.current[0];
  await query([]); // response #1: ed25519:a1
  a1ExpiredTs = Date.now() - 1000;
  keys.b2 = o.rotate('ed25519:b2', a1ExpiredTs);
  o.validUntilTs += DAY_MS;
  await query(['ed25519:b2']); // #2: b2, a1 retired
  keys.c3 = o.rotate('ed25519:c3', Date.now() - 1000);
  o.old = o.old.filter((k) => k.key.keyId !== 'ed25519:a1'); // the origin forgets a1 altogether
  o.validUntilTs += DAY_MS;
  await query(['ed25519:c3']); // #3: c3, b2 retired; a1 still answered from #2
  keys.impostor = FakeOrigin.newKey('ed25519:c3'); // the origin reuses c3 with another key
  o.current = [keys.impostor];
  o.validUntilTs += DAY_MS;
  const refused = await query(['ed25519:c3'], o.validUntilTs - 1000);
  expect(refused.json.server_keys[0].verify_keys['ed25519:c3'].key).toBe(keys.c3.publicKeyBase64);
  expect(o.fetches).toBe(4);
  expect(await counterValue(n.registries, 'matrix_notary_origin_responses_refused_total', { reason: 'collision' })).toBe(1);
});

afterAll(async () => {
  await o?.stop();
  await n?.stop();
});

describe('matrix-notary inspect', () => {
  test('--json: the responses with their key IDs, the bindings with their history, the fetch state with the refusal', async () => {
    const r = await run(['inspect', o.serverName, '--json'], env);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    const report = JSON.parse(r.stdout);
    expect(report.server_name).toBe(o.serverName);
    expect(report.responses.map((x: any) => [x.id, x.latest, x.verify_keys, x.old_verify_keys, x.answers_for])).toEqual([
      [3, true, ['ed25519:c3'], ['ed25519:b2'], ['ed25519:b2', 'ed25519:c3']],
      [2, false, ['ed25519:b2'], ['ed25519:a1'], ['ed25519:a1']],
    ]);
    for (const x of report.responses) expect(x.valid_until_ts).toBeGreaterThan(x.fetched_ts);
    const byId = Object.fromEntries(report.bindings.map((b: any) => [b.key_id, b]));
    expect(Object.keys(byId)).toEqual(['ed25519:a1', 'ed25519:b2', 'ed25519:c3']);
    expect(byId['ed25519:a1']).toMatchObject({ state: 'unlisted', answered_by: 2, key: keys.a1.publicKeyBase64, key_sha256: keyFingerprint(keys.a1.publicKeyBase64), banned: false });
    expect(byId['ed25519:a1'].retired_ts).toBeGreaterThanOrEqual(byId['ed25519:a1'].last_seen_active_ts);
    expect(byId['ed25519:a1'].expired_ts).toBe(a1ExpiredTs);
    expect(byId['ed25519:b2']).toMatchObject({ state: 'retired', answered_by: 3, key: keys.b2.publicKeyBase64 });
    expect(byId['ed25519:b2'].first_seen_ts).toBeLessThan(byId['ed25519:b2'].retired_ts);
    expect(byId['ed25519:c3']).toMatchObject({ state: 'active', answered_by: 3, key: keys.c3.publicKeyBase64, retired_ts: null, expired_ts: null });
    expect(report.fetch).toMatchObject({ failures_in_a_row: 1, last_error: { reason: 'collision' } });
    expect(report.fetch.last_error.message).toContain('ed25519:c3');
  });

  test('reads as text by default', async () => {
    const r = await run(['inspect', o.serverName], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Server ${o.serverName}`);
    expect(r.stdout).toContain('Responses (2, newest first):');
    expect(r.stdout).toContain('Key bindings (3):');
    expect(r.stdout).toMatch(/ed25519:a1 {2}unlisted, answered by #2/);
    expect(r.stdout).toMatch(/failures in a row {3}1/);
    expect(r.stdout).toMatch(/last error {10}collision at /);
  });

  test('a server the notary holds nothing for, a bad server name, an unreachable Redis', async () => {
    const none = await run(['inspect', 'never-seen.example.org'], env);
    expect(none).toMatchObject({ code: 0, stdout: 'The notary holds nothing for never-seen.example.org.\n' });
    const noneJson = JSON.parse((await run(['inspect', 'never-seen.example.org', '--json'], env)).stdout);
    expect(noneJson).toMatchObject({ held: false, responses: [], bindings: [] });
    const bad = await run(['inspect', 'Not A Server'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a valid server name');
    const down = await run(['inspect', o.serverName], { ...env, REDIS_URL: 'redis://127.0.0.1:1' });
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^matrix-notary inspect: Redis at redis:\/\/127\.0\.0\.1:1 \(REDIS_URL\) did not answer within 5 s: nothing listens there/);
  });
});

describe('matrix-notary keys evict', () => {
  test('drops one binding: logged with its fingerprint, counted, and the origin\'s new body for that key ID is then accepted', async () => {
    const r = await run(['keys', 'evict', o.serverName, 'ed25519:c3', '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      server_name: o.serverName,
      key_id: 'ed25519:c3',
      evicted: [{ key_id: 'ed25519:c3', key: keys.c3.publicKeyBase64, key_sha256: keyFingerprint(keys.c3.publicKeyBase64) }],
    });
    const log = JSON.parse(r.stderr.trim().split('\n').pop()!);
    expect(log).toMatchObject({ msg: 'key bindings evicted by an operator', role: 'cli', origin: o.serverName, keyIds: ['ed25519:c3'], keySha256: [keyFingerprint(keys.c3.publicKeyBase64)] });
    expect(await counterValue(n.registries, 'matrix_notary_key_bindings_evicted_total', { reason: 'operator' })).toBe(1);

    // The next query naming c3 cannot be answered from what is held: it fetches (at once: eviction
    // lifts the backoff) and binds the body the origin publishes now.
    const after = await query(['ed25519:c3']);
    expect(o.fetches).toBe(5);
    expect(after.json.server_keys).toHaveLength(1);
    expect(after.json.server_keys[0].verify_keys['ed25519:c3'].key).toBe(keys.impostor.publicKeyBase64);
    const report = JSON.parse((await run(['inspect', o.serverName, '--json'], env)).stdout);
    expect(report.bindings.find((b: any) => b.key_id === 'ed25519:c3')).toMatchObject({ key: keys.impostor.publicKeyBase64, state: 'active' });
    expect(report.fetch).toMatchObject({ failures_in_a_row: 0, last_error: null });
  });

  test('a key ID that is not bound evicts nothing (exit 1); usage errors exit 2', async () => {
    const r = await run(['keys', 'evict', o.serverName, 'ed25519:nope'], env);
    expect(r).toMatchObject({ code: 1, stdout: `No binding of ed25519:nope is held for ${o.serverName}: nothing evicted.\n` });
    expect((await run(['keys', 'frob', o.serverName], env)).code).toBe(2);
    expect((await run(['keys', 'evict', o.serverName, 'not-a-key-id'], env)).code).toBe(2);
    expect((await run(['keys', 'evict'], env)).code).toBe(2);
  });

  test('without a key ID drops everything held for the server', async () => {
    const r = await run(['keys', 'evict', o.serverName], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Evicted everything held for ${o.serverName}:`);
    for (const id of ['ed25519:a1', 'ed25519:b2', 'ed25519:c3']) expect(r.stdout).toContain(`  ${id}  key `);
    expect(await counterValue(n.registries, 'matrix_notary_key_bindings_evicted_total', { reason: 'operator' })).toBe(4);
    expect(await counterValue(n.registries, 'matrix_notary_key_bindings')).toBe(0);
    expect((await run(['inspect', o.serverName], env)).stdout).toBe(`The notary holds nothing for ${o.serverName}.\n`);
  });
});
