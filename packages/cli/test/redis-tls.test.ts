/**
 * rediss:// in each of the three deployments, as operators run it: `matrix-notary api` and
 * `worker` as child processes, Redis servers that listen on TLS only (tls-port, port 0) with a
 * certificate from the test CA (trusted through NODE_EXTRA_CA_CERTS) and a password (from
 * REDIS_PASSWORD_FILE). A query through the api makes the worker fetch an origin and store it:
 * every connection (cache, scripts, queue, pub/sub) works over TLS.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { verifyJsonSignature } from '@matrix-notary/protocol';
import {
  createTestCa,
  FakeOrigin,
  RedisClusterNodes,
  RedisServer,
  SentinelGroup,
  uniquePrefix,
  writeRedisTlsFiles,
  type RedisTlsFiles,
  type TestCa,
} from '@matrix-notary/testing';
import { freeLoopbackPort } from '@matrix-notary/common';
import { assertBuilt, startCli, waitForUrl, type RunningProcess } from './processes';
import { startSignerProcess, type SignerProcess } from './signer-process';

jest.setTimeout(90_000);

const NOTARY = 'notary.tls.test';
const TOKEN = 'redis-tls-test-token-0123456789';
const PASSWORD = 'tls-redis-password-31415';

let dir: string;
let ca: TestCa;
let tls: RedisTlsFiles;
let signer: SignerProcess;
let passwordFile: string;
const stops: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-redis-tls-'));
  ca = await createTestCa();
  tls = await writeRedisTlsFiles(ca, path.join(dir, 'tls'));
  passwordFile = path.join(dir, 'redis-password');
  fs.writeFileSync(passwordFile, `${PASSWORD}\n`);
  signer = await startSignerProcess(dir, NOTARY, TOKEN);
  stops.push(() => signer.process.stop());
});

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Starts a worker and an api on the given Redis variables, queries one origin, stops both. */
async function queryThroughRoles(redisEnv: Record<string, string>): Promise<void> {
  const origin = await FakeOrigin.start({ ca });
  const procs: RunningProcess[] = [];
  try {
    const apiPort = await freeLoopbackPort();
    const env = {
      ...signer.env,
      ...redisEnv,
      NOTARY_SIGNER_TOKEN: TOKEN,
      REDIS_PASSWORD_FILE: passwordFile,
      NODE_EXTRA_CA_CERTS: tls.caFile,
      NOTARY_REDIS_PREFIX: uniquePrefix('tls'),
      NOTARY_BIND: '127.0.0.1',
      NOTARY_METRICS_BIND: '127.0.0.1',
      NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
      NOTARY_FEDERATION_CA_FILE: tls.caFile,
      NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
      NOTARY_LOG_LEVEL: 'warn',
    };
    procs.push(startCli(['worker'], { ...env, NOTARY_METRICS_PORT: String(await freeLoopbackPort()) }));
    const api = startCli(['api'], { ...env, NOTARY_PORT: String(apiPort), NOTARY_METRICS_PORT: String(await freeLoopbackPort()) });
    procs.push(api);
    await waitForUrl(`http://127.0.0.1:${apiPort}/_notary/health/ready`, api);
    const res = await fetch(`http://127.0.0.1:${apiPort}/_matrix/key/v2/query/${origin.serverName}`);
    const body = (await res.json()) as { server_keys: Array<Record<string, unknown>> };
    const logs = procs.map((p) => p.output()).join('\n');
    expect({ status: res.status, entries: body.server_keys?.length, fetches: origin.fetches, logs: body.server_keys?.length === 1 ? '' : logs }).toEqual({
      status: 200,
      entries: 1,
      fetches: 1,
      logs: '',
    });
    expect(verifyJsonSignature(body.server_keys[0], origin.serverName, 'ed25519:a1', origin.current[0].pair.publicKey)).toBe(true);
  } finally {
    const codes = await Promise.all(procs.map((p) => p.stop()));
    await origin.stop();
    expect(codes).toEqual(procs.map(() => 0));
    for (const p of procs) expect(p.output()).not.toContain(PASSWORD);
  }
}

test('one Redis over TLS (rediss://), password from REDIS_PASSWORD_FILE', async () => {
  const redis = await RedisServer.start({ tls, password: PASSWORD });
  stops.push(() => redis.stop());
  await queryThroughRoles({ REDIS_URL: redis.url });
});

test('a master found through Sentinels, TLS to the Sentinels and to the master', async () => {
  // These Sentinels want no password (the master does): the roles find that out and send none.
  const group = await SentinelGroup.start({ tls, password: PASSWORD, readyForFailover: false });
  stops.push(() => group.stop());
  await queryThroughRoles({ REDIS_URL: 'rediss://127.0.0.1', REDIS_SENTINELS: group.sentinelList, REDIS_SENTINEL_MASTER: group.masterName });
});

test('a Redis Cluster of three masters over TLS', async () => {
  const cluster = await RedisClusterNodes.start({ tls, password: PASSWORD });
  stops.push(() => cluster.stop());
  await queryThroughRoles({ REDIS_URL: 'rediss://127.0.0.1', REDIS_CLUSTER_NODES: cluster.nodeList });
});
