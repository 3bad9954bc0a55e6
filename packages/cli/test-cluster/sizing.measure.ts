/**
 * Sizing figures for the README's deployment section (not part of test:cluster; about 1 minute of
 * load): CPU each role spends per request, measured from /proc while wrk loads the topology of
 * test:cluster on one machine. CPU per request, not requests/s, is what carries over to other
 * machines: every process here shares the same 2 cores with the load generator.
 *
 *   npx jest --config jest.cluster.config.js --testMatch '**\/sizing.measure.ts' --runInBand
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { RedisServer, type FakeOrigin } from '@matrix-notary/testing';
import { BalancerClient, Checker, Phase } from './load';
import { NotaryCluster } from './topology';

jest.setTimeout(300_000);

const run = promisify(execFile);
const WRK_SECONDS = 10;
const WRK_CONNECTIONS = 50;
const CACHED_ORIGINS = 100;
const NEW_ORIGINS = 200;
const CLOCK_TICKS_PER_S = 100; // Linux's USER_HZ

/** CPU seconds a process has used so far (user + system), from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

async function wrk(url: string, dir: string, body?: string): Promise<{ rps: number; p50: string; p99: string; requests: number; errors: number }> {
  const args = ['-t2', `-c${WRK_CONNECTIONS}`, `-d${WRK_SECONDS}s`, '--latency'];
  if (body !== undefined) {
    const script = path.join(dir, 'post.lua');
    fs.writeFileSync(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(body)}\nwrk.headers["Content-Type"] = "application/json"\n`);
    args.push('-s', script);
  }
  const { stdout } = await run('wrk', [...args, url], { maxBuffer: 1 << 20 });
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]),
    p50: /^\s+50%\s+(\S+)/m.exec(stdout)?.[1] ?? '?',
    p99: /^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? '?',
    requests,
    // Answers other than 2xx, and socket errors: a figure for failed requests would be worthless.
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0) + [...stdout.matchAll(/(?:connect|read|write|timeout) (\d+)/g)].reduce((a, m) => a + Number(m[1]), 0),
  };
}

test('CPU per request of each role', async () => {
  const redis = await RedisServer.start({ appendOnly: true });
  const cluster = await NotaryCluster.start({ redisEnv: { REDIS_URL: redis.url }, env: { NOTARY_LOG_LEVEL: 'warn' } });
  const lines: string[] = [];
  try {
    const checker = await Checker.create(cluster);
    const client = new BalancerClient(cluster.balancerPort, cluster.ca.caPem, 16);
    const cached: FakeOrigin[] = await Promise.all(Array.from({ length: CACHED_ORIGINS }, () => cluster.origin()));
    cached.forEach((o) => checker.know(o));
    const warm = new Phase('warm', checker);
    warm.record(cached.map((o) => o.serverName), cached.map((o) => o.serverName), await client.query(cached.map((o) => o.serverName)));
    expect(warm.end()).toMatchObject({ failed: 0, wrong: 0 });

    const api = cluster.apis[0];
    const pids = { api: api.proc.pid!, redis: redis.pid!, haproxy: cluster.balancer.pid!, signer: cluster.signer.proc.pid! };
    const measure = async (label: string, url: string, procs: Record<string, number>, body?: string) => {
      const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuSeconds(pid)]));
      const r = await wrk(url, cluster.dir, body);
      expect({ label, errors: r.errors }).toEqual({ label, errors: 0 });
      const per = Object.entries(procs)
        .map(([k, pid]) => `${k} ${(((cpuSeconds(pid) - before[k]) * 1e6) / r.requests).toFixed(0)} µs`)
        .join(', ');
      lines.push(`${label}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50}, p99 ${r.p99}; CPU per request: ${per}`);
    };
    const one = cached[0].serverName;
    const apiUrl = `http://127.0.0.1:${api.port}`;
    await measure('one api pod, cache-hit GET /query/{server}', `${apiUrl}/_matrix/key/v2/query/${one}`, { api: pids.api, redis: pids.redis });
    const batch = JSON.stringify({ server_keys: Object.fromEntries(cached.map((o) => [o.serverName, {}])) });
    await measure(`one api pod, cache-hit POST of ${CACHED_ORIGINS} servers`, `${apiUrl}/_matrix/key/v2/query`, { api: pids.api, redis: pids.redis }, batch);
    const apiPids = Object.fromEntries(cluster.apis.map((a, i) => [`api${i + 1}`, a.proc.pid!]));
    await measure('through HAProxy (TLS, keep-alive), 3 pods, cache-hit GET', `https://127.0.0.1:${cluster.balancerPort}/_matrix/key/v2/query/${one}`, {
      haproxy: pids.haproxy,
      ...apiPids,
      redis: pids.redis,
    });

    // Origin fetches: each new origin is one fetch (TLS to the origin, checks, countersigning, store).
    const fresh: FakeOrigin[] = await Promise.all(Array.from({ length: NEW_ORIGINS }, () => cluster.origin()));
    fresh.forEach((o) => checker.know(o));
    const workerPids = Object.fromEntries(cluster.workers.map((w, i) => [`worker${i + 1}`, w.proc.pid!]));
    const procs = { ...workerPids, signer: pids.signer, redis: pids.redis };
    const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const started = Date.now();
    const p = new Phase('fetch', checker);
    for (let i = 0; i < fresh.length; i += 50) {
      const names = fresh.slice(i, i + 50).map((o) => o.serverName);
      p.record(names, [], await client.query(names));
    }
    const seconds = (Date.now() - started) / 1000;
    const fetched = fresh.filter((o) => o.fetches > 0).length;
    const per = Object.entries(procs)
      .map(([k, pid]) => `${k} ${(((cpuSeconds(pid) - before[k]) * 1e3) / fetched).toFixed(2)} ms`)
      .join(', ');
    lines.push(`${fetched} new origins fetched through 2 workers in ${seconds.toFixed(1)} s (${(fetched / seconds).toFixed(0)}/s); CPU per fetch: ${per}`);
    expect(p.end().wrong).toBe(0);
    client.close();
  } finally {
    process.stdout.write(`\n=== sizing (${WRK_SECONDS} s wrk runs, ${WRK_CONNECTIONS} connections) ===\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
    await cluster.stop();
    await redis.stop();
  }
});
