/**
 * `matrix-notary verify-event`, run in-process with in-memory streams, against a notary on
 * 127.0.0.1 (and, without --notary, a real HTTPS origin through the federation client).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { canonicalJsonBytes, type JsonObject } from '@matrix-notary/protocol';
import { createTestCa, startHttpsServer, type TestHttpsServer } from '@matrix-notary/testing';
import { runVerifyEvent } from '../src/verify-event';
import { startFakeNotary, type FakeNotary } from '../../keyring/test/fake-notary';
import { DAY_MS, hashAndSign, keyResponse, makeKey, messageEvent, type TestKey } from '../../keyring/test/helpers';

const NOW = Date.now();
let notaryKey: TestKey;
let aKey: TestKey;
let notary: FakeNotary;
let dir: string;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await runVerifyEvent(argv, {
    stdout,
    stderr,
    stdin: Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]),
    env: options.env ?? {},
  });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

function file(name: string, value: unknown): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, typeof value === 'string' ? value : JSON.stringify(value));
  return p;
}

const pin = (): string[] => ['--notary', notary.url, '--notary-key', `${notaryKey.keyId}=${notaryKey.publicKeyBase64}`];
const good = (): JsonObject => hashAndSign(messageEvent('@x:a.example', NOW - DAY_MS), '10', 'a.example', aKey);

beforeAll(async () => {
  notaryKey = await makeKey('ed25519:n1');
  aKey = await makeKey('ed25519:a');
  notary = await startFakeNotary({
    serverName: 'notary.test',
    key: notaryKey,
    origins: new Map([['a.example', [keyResponse({ serverName: 'a.example', current: [aKey], validUntilTs: NOW + DAY_MS })]]]),
  });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'verify-event-'));
});

afterAll(async () => {
  await notary.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('verify-event through a pinned notary', () => {
  it('exits 0 for a valid event and prints a verdict per signature', async () => {
    const r = await run(['--room-version', '10', ...pin(), file('good.json', good())]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/keys from notary notary\.test at http:\/\/127\.0\.0\.1:\d+ \(pinned\)/);
    expect(r.stdout).toMatch(/: VALID\n/);
    expect(r.stdout).toMatch(/ed25519:a: ok, the signature verifies; valid_until_ts \d+ >= origin_server_ts \d+ \(verify_keys from notary notary\.test\)/);
    expect(r.stdout).toMatch(/1 event\(s\) in room version 10: 1 valid, 0 invalid, 0 undecided/);
  });

  it('exits 1 when a signature is wrong, and 1 wins over 2 in a batch', async () => {
    const forged = hashAndSign(messageEvent('@x:a.example', NOW - DAY_MS), '10', 'a.example', await makeKey('ed25519:a'));
    const unknownKey = hashAndSign(messageEvent('@x:a.example', NOW - DAY_MS), '10', 'a.example', await makeKey('ed25519:zz'));
    expect((await run(['--room-version', '10', ...pin(), file('forged.json', forged)])).code).toBe(1);
    expect((await run(['--room-version', '10', ...pin(), file('unknown.json', unknownKey)])).code).toBe(2);
    const batch = await run(['--room-version', '10', ...pin(), file('batch.json', [good(), unknownKey, forged])]);
    expect(batch.code).toBe(1);
    expect(batch.stdout).toMatch(/BAD SIGNATURE/);
    expect(batch.stdout).toMatch(/KEY NOT FOUND/);
  });

  it('exits 1 when the key was outside its validity (room v5+), 0 for the same event under v4', async () => {
    const late = hashAndSign(messageEvent('@x:a.example', NOW + 2 * DAY_MS), '4', 'a.example', aKey);
    const v5 = await run(['--room-version', '5', ...pin(), file('late.json', late)]);
    expect(v5.code).toBe(1);
    expect(v5.stdout).toMatch(/KEY NOT VALID/);
    expect((await run(['--room-version', '4', ...pin(), file('late4.json', late)])).code).toBe(0);
  });

  it('reports a content hash mismatch as "treat as redacted" and fails on it only with --strict', async () => {
    const changed = { ...good(), content: { body: 'edited' } };
    const lenient = await run(['--room-version', '10', ...pin(), file('changed.json', changed)]);
    expect(lenient.code).toBe(0);
    expect(lenient.stdout).toMatch(/content hash: mismatch, .*treat as redacted/);
    const strict = await run(['--room-version', '10', '--strict', ...pin(), file('changed2.json', changed)]);
    expect(strict.code).toBe(1);
    expect(strict.stdout).toMatch(/fails with --strict/);
  });

  it('reads events from standard input with -', async () => {
    const r = await run(['--room-version', '10', ...pin(), '-'], { stdin: JSON.stringify([good(), good()]) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 event\(s\) in room version 10: 2 valid/);
  });

  it('prints the documented JSON with --json', async () => {
    const r = await run(['--room-version', '10', '--json', ...pin(), file('j.json', good())]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      exitCode: 0,
      roomVersion: '10',
      verdict: 'valid',
      strict: false,
      keySources: [{ kind: 'notary', url: notary.url, serverName: 'notary.test', trust: 'pinned' }],
      keySourceFailures: [],
    });
    expect(typeof out.checkedAtMs).toBe('number');
    expect(out.events).toHaveLength(1);
    expect(out.events[0]).toMatchObject({
      index: 0,
      eventId: expect.stringMatching(/^\$/),
      sender: '@x:a.example',
      originServerTs: NOW - DAY_MS,
      verdict: 'valid',
      problems: [],
      exemptions: [],
      unrequiredSigners: [],
      contentHash: { status: 'match' },
      servers: [
        {
          serverName: 'a.example',
          requiredBecause: ['sender'],
          verdict: 'valid',
          signatures: [
            {
              serverName: 'a.example',
              keyId: 'ed25519:a',
              outcome: 'passed',
              passed: true,
              rule: 'valid_until_ts',
              key: { source: 'notary notary.test', kind: 'verify_keys', key: aKey.publicKeyBase64, validUntilTs: NOW + DAY_MS, capped: false },
            },
          ],
        },
      ],
    });
  });
});

describe('verify-event: notary trust', () => {
  it('exits 2 when the pinned key does not verify the notary', async () => {
    const wrong = await makeKey('ed25519:n1');
    const r = await run(['--room-version', '10', '--notary', notary.url, '--notary-key', `ed25519:n1=${wrong.publicKeyBase64}`, file('p.json', good())]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no pinned key \(ed25519:n1\) verifies its \/_matrix\/key\/v2\/server answer as notary\.test/);
  });

  it('exits 2 for an unpinned notary, and accepts it with --insecure-notary', async () => {
    const refused = await run(['--room-version', '10', '--notary', notary.url, file('u.json', good())]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--insecure-notary/);
    const accepted = await run(['--room-version', '10', '--notary', notary.url, '--insecure-notary', file('u2.json', good())]);
    expect(accepted.code).toBe(0);
    expect(accepted.stdout).toMatch(/INSECURE: not pinned/);
  });

  it('with --json still answers JSON on stdout when it cannot decide', async () => {
    const r = await run(['--room-version', '10', '--json', '--notary', notary.url, file('u3.json', good())]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ exitCode: 2, error: expect.stringMatching(/no key of it is pinned/) });
  });

  it('exits 2 when the notary cannot be reached', async () => {
    const r = await run(['--room-version', '10', '--notary', 'http://127.0.0.1:1', '--insecure-notary', file('n.json', good())]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/notary http:\/\/127\.0\.0\.1:1/);
  });
});

describe('verify-event: usage and input', () => {
  it.each([
    [[], /--room-version is required/],
    [['--room-version', '13', 'x.json'], /not a room version/],
    [['--room-version', '10'], /exactly one FILE/],
    [['--room-version', '10', '--notary-key', 'ed25519:a=AAAA', '--notary', 'http://127.0.0.1:1', 'x.json'], /must follow the --notary/],
    [['--room-version', '10', '--notary', 'ftp://x', 'x.json'], /not an http\(s\) URL/],
    [['--room-version', '10', '--notary', 'http://127.0.0.1:1', '--notary-key', 'nokey', 'x.json'], /not KEYID=BASE64/],
    [['--room-version', '10', '--insecure-notary', 'x.json'], /needs a --notary/],
    [['--room-version', '10', '--bogus', 'x.json'], /bogus/],
  ])('exits 2 with usage for %j', async (argv, message) => {
    const r = await run(argv as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stderr).toMatch(/usage: matrix-notary verify-event/);
  });

  it('prints usage and exits 0 with --help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: matrix-notary verify-event/);
  });

  it('exits 2 for an unreadable file, a non-JSON file, an empty array and a float', async () => {
    for (const [input, message] of [
      [path.join(dir, 'missing.json'), /ENOENT/],
      [file('text.json', 'not json'), /JSON/],
      [file('empty.json', '[]'), /empty array/],
      [file('float.json', '{"origin_server_ts": 1.5}'), /not an integer/],
    ] as const) {
      const r = await run(['--room-version', '10', ...pin(), input]);
      expect({ input, code: r.code }).toEqual({ input, code: 2 });
      expect(r.stderr).toMatch(message);
    }
  });

  it('exits 2 for a malformed event and says why', async () => {
    const r = await run(['--room-version', '10', ...pin(), file('m.json', { type: 'x', content: {} })]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/problem: sender is missing/);
  });
});

describe('verify-event without --notary: keys from the origins', () => {
  let origin: TestHttpsServer;
  let serverName: string;
  let originKey: TestKey;
  let caFile: string;

  beforeAll(async () => {
    const ca = await createTestCa();
    originKey = await makeKey('ed25519:o');
    let response: JsonObject = {};
    origin = await startHttpsServer({
      host: '127.0.0.1',
      cert: await ca.issue({ ips: ['127.0.0.1'] }),
      handler: (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(canonicalJsonBytes(response)),
    });
    serverName = `127.0.0.1:${origin.port}`;
    response = keyResponse({ serverName, current: [originKey], validUntilTs: NOW + DAY_MS });
    caFile = file('ca.pem', ca.caPem);
  });

  afterAll(() => origin.close());

  it('fetches keys from the origin under the NOTARY_* variables', async () => {
    const event = hashAndSign(messageEvent(`@u:${serverName}`, NOW - DAY_MS), '11', serverName, originKey);
    const env = { NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32', NOTARY_FEDERATION_CA_FILE: caFile };
    const r = await run(['--room-version', '11', file('o.json', event)], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/keys from the origin servers/);
    expect(r.stdout).toContain(`(verify_keys from origin ${serverName})`);
  });

  it('exits 2 when the origin is refused by the address policy (loopback not allowed)', async () => {
    const event = hashAndSign(messageEvent(`@u:${serverName}`, NOW - DAY_MS), '11', serverName, originKey);
    const r = await run(['--room-version', '11', file('o2.json', event)], { env: { NOTARY_FEDERATION_CA_FILE: caFile } });
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/forbidden_address/);
  });

  it('exits 2 naming the variable when a NOTARY_* value is bad', async () => {
    const r = await run(['--room-version', '11', file('o3.json', good())], { env: { NOTARY_ALLOW_PRIVATE_ADDRESSES: 'maybe' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NOTARY_ALLOW_PRIVATE_ADDRESSES/);
  });
});
