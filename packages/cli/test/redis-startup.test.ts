/**
 * A role started while Redis is unreachable or misconfigured (DESIGN behaviour 11, issue 8 item 2),
 * as operators meet it: `matrix-notary api|worker` as child processes. Unreachable: one log line
 * saying it waits, retries for the real 15 s, then exit 1 with one line naming the variable that
 * says where Redis is. A refused password: at once, saying where the password goes. Never a stack
 * trace, never the password.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RedisServer } from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, runCli, startCli, waitForUrl } from './processes';
import { startSignerProcess, type SignerProcess } from './signer-process';

jest.setTimeout(60_000);

const INVALID_NAMES_FAIL = path.join(__dirname, 'fixtures', 'invalid-names-fail.js');

const TOKEN = 'redis-startup-test-token-0123456789';
const PASSWORD = 'the-redis-password-9f8e7d';
/** Makes every host name but localhost unknown in the child, so no DNS query leaves the machine. */
const NO_OUTSIDE_DNS = path.resolve(__dirname, '..', '..', 'testing', 'no-outside-dns.js');
/** The real start-up window is 15 s; the child also needs to start and stop. */
const UNREACHABLE_RUN_MS = 40_000;

let dir: string;
let signer: SignerProcess;
let redis: RedisServer;

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-redis-startup-'));
  signer = await startSignerProcess(dir, 'notary.startup.test', TOKEN);
  redis = await RedisServer.start({ password: PASSWORD });
});

afterAll(async () => {
  await signer?.process.stop();
  await redis?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function roleEnv(extra: Record<string, string>): Promise<Record<string, string>> {
  return {
    ...signer.env,
    NOTARY_SIGNER_TOKEN: TOKEN,
    NOTARY_BIND: '127.0.0.1',
    NOTARY_PORT: String(await freeLoopbackPort()),
    NOTARY_METRICS_PORT: String(await freeLoopbackPort()),
    NOTARY_METRICS_BIND: '127.0.0.1',
    NODE_OPTIONS: `--require ${NO_OUTSIDE_DNS}`,
    ...extra,
  };
}

/** The lines a role printed: its JSON log lines and the rest (the final message). */
function lines(output: string): { logs: Array<Record<string, unknown>>; other: string[] } {
  const logs: Array<Record<string, unknown>> = [];
  const other: string[] = [];
  for (const line of output.split('\n').filter((l) => l.trim() !== '')) {
    try {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      other.push(line);
    }
  }
  return { logs, other };
}

function expectNoStackTrace(output: string): void {
  expect(output).not.toMatch(/\n\s+at \S/);
  expect(output).not.toMatch(/MaxRetriesPerRequestError|Unhandled|ReplyError/);
}

test('unreachable Redis, in each deployment: one waiting line, the real 15 s of retries, then exit 1 with one line naming the variable', async () => {
  const closed = await freeLoopbackPort(); // nothing listens there
  const cases: Array<{ role: string; env: Record<string, string>; line: string | RegExp }> = [
    {
      role: 'api',
      env: { REDIS_URL: `redis://127.0.0.1:${closed}` },
      line: `matrix-notary api: Redis at redis://127.0.0.1:${closed} (REDIS_URL) did not answer within 15 s: nothing listens there (connection refused); check that Redis runs there and that REDIS_URL is right`,
    },
    {
      role: 'worker',
      // The name fails in the child itself (the preload), so no DNS question leaves the machine.
      env: { REDIS_URL: 'redis://redis-typo.invalid:6379', NODE_OPTIONS: `--require ${INVALID_NAMES_FAIL}` },
      line: 'matrix-notary worker: Redis at redis://redis-typo.invalid:6379 (REDIS_URL) did not answer within 15 s: the host name redis-typo.invalid does not resolve (ENOTFOUND); check that Redis runs there and that REDIS_URL is right',
    },
    {
      role: 'api',
      env: { REDIS_SENTINELS: `127.0.0.1:${closed}` },
      line: new RegExp(
        `^matrix-notary api: the Redis master "mymaster" of the Sentinels 127\\.0\\.0\\.1:${closed} \\(REDIS_SENTINELS\\) did not answer within 15 s: .*; check REDIS_SENTINELS, REDIS_SENTINEL_MASTER and that the Sentinels run$`,
      ),
    },
    {
      role: 'worker',
      env: { REDIS_CLUSTER_NODES: `127.0.0.1:${closed}` },
      line: new RegExp(
        `^matrix-notary worker: the Redis Cluster at 127\\.0\\.0\\.1:${closed} \\(REDIS_CLUSTER_NODES\\) did not answer within 15 s: .*; check REDIS_CLUSTER_NODES and that the cluster runs$`,
      ),
    },
  ];
  // All at once: each child mostly waits, and the suite pays the 15 s once.
  const results = await Promise.all(cases.map(async (c) => runCli([c.role], await roleEnv(c.env), UNREACHABLE_RUN_MS)));
  results.forEach((res, i) => {
    const { logs, other } = lines(res.output);
    const line = cases[i].line;
    expect({ code: res.code, other }).toEqual({ code: 1, other: [typeof line === 'string' ? line : expect.stringMatching(line)] });
    const waiting = logs.filter((l) => /Redis is not answering yet; retrying for up to 15 s/.test(String(l.msg)));
    expect(waiting).toHaveLength(1);
    // Nothing else about Redis is logged while it waits: one line, not a flood.
    expect(logs.filter((l) => /Redis/.test(String(l.msg)))).toHaveLength(1);
    expectNoStackTrace(res.output);
  });
});

test('a refused password ends the start at once with a line saying where the password goes, and never prints it', async () => {
  const passwordFile = path.join(dir, 'redis-password');
  fs.writeFileSync(passwordFile, 'not-the-password\n');
  const cases: Array<{ role: string; env: Record<string, string>; line: string }> = [
    {
      role: 'api',
      env: { REDIS_URL: redis.url },
      line: `matrix-notary api: Redis at ${redis.url} (REDIS_URL) requires a password (NOAUTH): put it in a file named by REDIS_PASSWORD_FILE, or in REDIS_URL (redis://:PASSWORD@host:6379)`,
    },
    {
      role: 'worker',
      env: { REDIS_URL: `redis://:wrong-password@127.0.0.1:${redis.port}` },
      line: 'matrix-notary worker: Redis refused the password in REDIS_URL (WRONGPASS): put the right one in REDIS_URL (redis://:PASSWORD@host:6379) or in a file named by REDIS_PASSWORD_FILE',
    },
    {
      role: 'api',
      env: { REDIS_URL: redis.urlWithPassword, REDIS_PASSWORD_FILE: passwordFile },
      line: 'matrix-notary api: Redis refused the password from REDIS_PASSWORD_FILE (WRONGPASS): put the right one in that file',
    },
  ];
  const results = await Promise.all(cases.map(async (c) => runCli([c.role], await roleEnv(c.env), 15_000)));
  results.forEach((res, i) => {
    expect({ code: res.code, other: lines(res.output).other }).toEqual({ code: 1, other: [cases[i].line] });
    expect(res.output).not.toMatch(/Redis is not answering yet/);
    expect(res.output).not.toContain(PASSWORD);
    expect(res.output).not.toContain('not-the-password');
    expect(res.output).not.toContain('wrong-password');
    expectNoStackTrace(res.output);
  });
});

test('REDIS_URL with another scheme is refused before any connection, naming REDIS_URL', async () => {
  const res = await runCli(['worker'], await roleEnv({ REDIS_URL: `http://:${PASSWORD}@127.0.0.1:${redis.port}` }));
  expect(res.code).toBe(1);
  expect(res.output).toContain('REDIS_URL must be a redis:// or rediss:// (TLS) URL such as redis://127.0.0.1:6379');
  expect(res.output).not.toContain(PASSWORD);
  expectNoStackTrace(res.output);
});

test('the password from REDIS_PASSWORD_FILE, and the signer token from NOTARY_SIGNER_TOKEN_FILE, start a role', async () => {
  const passwordFile = path.join(dir, 'redis-password-right');
  const tokenFile = path.join(dir, 'signer-token');
  fs.writeFileSync(passwordFile, `${PASSWORD}\n`);
  fs.writeFileSync(tokenFile, `${TOKEN}\n`);
  const env = await roleEnv({ REDIS_URL: redis.url, REDIS_PASSWORD_FILE: passwordFile, NOTARY_SIGNER_TOKEN_FILE: tokenFile });
  delete env.NOTARY_SIGNER_TOKEN;
  const api = startCli(['api'], env);
  try {
    await waitForUrl(`http://127.0.0.1:${env.NOTARY_PORT}/_notary/health/ready`, api);
    // The api fetched the signer's own keys with the token from the file.
    expect((await fetch(`http://127.0.0.1:${env.NOTARY_PORT}/_matrix/key/v2/server`)).status).toBe(200);
  } finally {
    expect(await api.stop()).toBe(0);
  }
  expect(api.output()).not.toContain(PASSWORD);
  expect(api.output()).not.toContain(TOKEN);
});
