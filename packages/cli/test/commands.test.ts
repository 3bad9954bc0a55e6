/**
 * `generate-key` and `all` as a user runs them: the built CLI as a child process, on real input,
 * against the test Redis. (The split roles are in split-roles.test.ts; verify-event in
 * verify-event-process.test.ts.)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBase64, encodeBase64, keyPairFromSeed, verifyJsonSignature } from '@matrix-notary/protocol';
import { readSigningKeyFile, signingKeyId } from '@matrix-notary/signer';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, logLines, runCli, startCli, stopWithin, waitForLogLine, waitForUrl } from './processes';

jest.setTimeout(60_000);

let dir: string;

beforeAll(() => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-commands-'));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('generate-key', () => {
  it('writes a 0600 key file in Synapse format and prints the key ID and public key an admin pins', async () => {
    const file = path.join(dir, 'k.key');
    const res = await runCli(['generate-key', '--out', file], {});
    expect(res.code).toBe(0);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file, 'utf8')).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
    const { key } = await readSigningKeyFile(file);
    expect(res.stderr).toBe(
      `wrote a new signing key to ${file}\nkey ID: ${signingKeyId(key)}\npublic key: ${encodeBase64(keyPairFromSeed(key.seed).publicKey)}\n`,
    );
    expect(res.stdout).toBe('');
  });

  it('never overwrites a key', async () => {
    const file = path.join(dir, 'kept.key');
    expect((await runCli(['generate-key', '--out', file], {})).code).toBe(0);
    const before = fs.readFileSync(file, 'utf8');
    const again = await runCli(['generate-key', '--out', file], {});
    expect(again).toMatchObject({ code: 1, stderr: `matrix-notary generate-key: signing key file ${file} already exists: refusing to overwrite a key (move it away first)\n` });
    expect(fs.readFileSync(file, 'utf8')).toBe(before);
  });

  it('says which directory is missing', async () => {
    const res = await runCli(['generate-key', '--out', '/missing/dir/k'], {});
    expect(res).toMatchObject({
      code: 1,
      stderr: 'matrix-notary generate-key: cannot create signing key file /missing/dir/k: the directory /missing/dir does not exist (create it first)\n',
    });
  });

  it('without --out prints the key file on stdout, and what to pin on stderr', async () => {
    const res = await runCli(['generate-key'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^ed25519 a_[A-Za-z0-9]{4} [A-Za-z0-9+/]{43}\n$/);
    const [, version, seed] = res.stdout.trim().split(' ');
    expect(res.stderr).toBe(`key ID: ed25519:${version}\npublic key: ${encodeBase64(keyPairFromSeed(decodeBase64(seed)).publicKey)}\n`);
  });
});

describe('all', () => {
  it('starts, answers, logs JSON lines with level names and ISO times, and stops on SIGTERM with exit 0', async () => {
    const keyFile = path.join(dir, 'all.key');
    expect((await runCli(['generate-key', '--out', keyFile], {})).code).toBe(0);
    const prefix = uniquePrefix('all');
    const [port, metricsPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
    const proc = startCli(
      ['all'],
      {
        REDIS_URL: testRedisUrl(),
        NOTARY_REDIS_PREFIX: prefix,
        NOTARY_SERVER_NAME: 'notary.all.test',
        NOTARY_SIGNING_KEY_FILE: keyFile,
        NOTARY_PORT: String(port),
        NOTARY_BIND: '127.0.0.1',
        NOTARY_METRICS_PORT: String(metricsPort),
      },
      dir,
    );
    try {
      await waitForUrl(`http://127.0.0.1:${port}/_matrix/key/v2/server`, proc);
      const own = (await (await fetch(`http://127.0.0.1:${port}/_matrix/key/v2/server`)).json()) as Record<string, any>;
      const { key } = await readSigningKeyFile(keyFile);
      expect(verifyJsonSignature(own, 'notary.all.test', signingKeyId(key), keyPairFromSeed(key.seed).publicKey)).toBe(true);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).toContain('matrix_notary_http_requests_total');

      const stop = await stopWithin(proc);
      expect({ code: stop.code, signal: stop.signal }).toEqual({ code: 0, signal: null });
      // stdout holds JSON lines only; each has a level name and an ISO time.
      const stdoutLines = proc.stdout().trimEnd().split('\n');
      const lines = logLines(proc);
      expect(lines).toHaveLength(stdoutLines.length);
      for (const line of lines) {
        expect(line).toMatchObject({ level: expect.stringMatching(/^(trace|debug|info|warn|error|fatal)$/), role: 'all' });
        expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      const running = lines.find((l) => l.msg === 'matrix-notary is running (all roles in one process)');
      expect(running?.url).toBe(`http://127.0.0.1:${port}/_matrix/key/v2/server`);
      expect(lines.slice(-2).map((l) => [l.msg, l.signal])).toEqual([
        ['stopping', 'SIGTERM'],
        ['stopped', undefined],
      ]);
      expect(proc.stderr()).toBe('');
      // Logged once each: the signing key, the api listener.
      expect(lines.filter((l) => l.msg === 'signing key loaded')).toHaveLength(1);
      expect(lines.filter((l) => l.msg === 'api listening')).toHaveLength(1);
    } finally {
      await proc.stop();
      await deletePrefix(prefix);
    }
  });
  it('on a first run fills in what is missing: a key at ./data/signing.key, the name localhost:<port> of the port it listens on', async () => {
    const cwd = fs.mkdtempSync(path.join(dir, 'first-run-'));
    const prefix = uniquePrefix('first-run');
    // No server name, key file or token; NOTARY_PORT=0, so the name needs the port the api gets.
    const proc = startCli(
      ['all'],
      { REDIS_URL: testRedisUrl(), NOTARY_REDIS_PREFIX: prefix, NOTARY_PORT: '0', NOTARY_BIND: '127.0.0.1', NOTARY_METRICS_PORT: '0' },
      cwd,
    );
    try {
      const running = await waitForLogLine(proc, 'matrix-notary is running (all roles in one process)');
      const port = Number(new URL(String(running.url)).port);
      expect(port).toBeGreaterThan(0);
      expect(running.serverName).toBe(`localhost:${port}`);
      const own = (await (await fetch(`http://127.0.0.1:${port}/_matrix/key/v2/server`)).json()) as Record<string, any>;
      const keyFile = path.join(cwd, 'data', 'signing.key');
      const { key } = await readSigningKeyFile(keyFile);
      expect(own.server_name).toBe(`localhost:${port}`);
      expect(verifyJsonSignature(own, `localhost:${port}`, signingKeyId(key), keyPairFromSeed(key.seed).publicKey)).toBe(true);
      expect(fs.statSync(path.join(cwd, 'data')).mode & 0o777).toBe(0o700);
      const lines = logLines(proc);
      expect(lines.find((l) => l.msg === 'created a new signing key')).toMatchObject({ level: 'info', file: './data/signing.key', keyId: signingKeyId(key) });
      expect(lines.find((l) => String(l.msg).startsWith('NOTARY_SERVER_NAME is not set'))).toMatchObject({ level: 'warn', serverName: `localhost:${port}` });
      expect(await stopWithin(proc)).toMatchObject({ code: 0, signal: null });
      expect(proc.stderr()).toBe('');
    } finally {
      await proc.stop();
      await deletePrefix(prefix);
    }
  });
});
