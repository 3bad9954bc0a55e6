/**
 * A real Prometheus (Debian's) scrapes a running notary: `matrix-notary all` and a split
 * `matrix-notary signer` (the signer role's own metrics), on loopback, after traffic that touches
 * every code path the dashboard and the rules watch (hits, fetches, a refused response, a refused
 * address, client errors, signer calls). Every PromQL expression of the dashboard and the rules
 * is then sent to the Prometheus query API: each must be valid, and each must return data when
 * every metric it names has data; every metric the artefacts name must have data here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { createTestCa, deletePrefix, FakeOrigin, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { freeLoopbackPort } from '../../packages/common/src/loopback-probes';
import { assertBuilt, runCli, startCli, waitForUrl, type RunningProcess } from '../../packages/cli/test/processes';
import {
  ALERTS,
  dashboardExpressions,
  grafanaToPromQL,
  metricNamesIn,
  readDashboard,
  type RuleFile,
} from './support';

jest.setTimeout(120_000);

const TOKEN = 'live-prometheus-test-token-0123456789';
const RATE_INTERVAL = '20s';
const WAIT_MS = 60_000;

let dir: string;
let prefix: string;
let good: FakeOrigin;
let lying: FakeOrigin;
const procs: RunningProcess[] = [];
let prometheus: ChildProcess | undefined;
let promOutput = '';
let promUrl: string;

const rules = parse(fs.readFileSync(ALERTS, 'utf8')) as RuleFile;
const dashboard = readDashboard();

interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

async function query(expr: string): Promise<QueryResult> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return (await res.json()) as QueryResult;
}

async function seriesCount(metric: string): Promise<number> {
  const r = await query(`count({__name__="${metric}"})`);
  return r.data?.result.length ? Number(r.data.result[0].value[1]) : 0;
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (prometheus?.exitCode !== null && prometheus?.exitCode !== undefined) throw new Error(`prometheus exited:\n${promOutput}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}; prometheus said:\n${promOutput.slice(-4000)}`);
}

async function get(url: string, init?: RequestInit): Promise<number> {
  const res = await fetch(url, init);
  await res.arrayBuffer();
  return res.status;
}

beforeAll(async () => {
  assertBuilt();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-live-prom-'));
  prefix = uniquePrefix('liveprom');
  const ca = await createTestCa();
  fs.writeFileSync(path.join(dir, 'ca.pem'), ca.caPem);
  good = await FakeOrigin.start({ ca });
  lying = await FakeOrigin.start({ ca });
  lying.claimedName = 'someone-else.example.org';
  const keyFile = path.join(dir, 'signing.key');
  expect((await runCli(['generate-key', '--out', keyFile], {})).code).toBe(0);

  const [apiPort, allMetricsPort, signerPort, signerMetricsPort, promPort, closedPort] = await Promise.all(
    Array.from({ length: 6 }, () => freeLoopbackPort()),
  );
  const all = startCli(['all'], {
    NOTARY_SERVER_NAME: 'notary.live.test',
    NOTARY_SIGNING_KEY_FILE: keyFile,
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_PORT: String(apiPort),
    NOTARY_BIND: '127.0.0.1',
    NOTARY_METRICS_PORT: String(allMetricsPort),
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_ALLOWED_ADDRESSES: '127.0.0.1/32',
    NOTARY_FEDERATION_CA_FILE: path.join(dir, 'ca.pem'),
    NOTARY_ORIGIN_MIN_INTERVAL_S: '0',
    NOTARY_LOG_LEVEL: 'error',
  });
  procs.push(all);
  const signer = startCli(['signer'], {
    NOTARY_SERVER_NAME: 'notary.live.test',
    NOTARY_SIGNING_KEY_FILE: keyFile,
    NOTARY_SIGNER_TOKEN: TOKEN,
    NOTARY_SIGNER_PORT: String(signerPort),
    NOTARY_METRICS_PORT: String(signerMetricsPort),
    NOTARY_METRICS_BIND: '127.0.0.1',
    NOTARY_LOG_LEVEL: 'error',
  });
  procs.push(signer);

  const config = {
    global: { scrape_interval: '1s', evaluation_interval: '1s' },
    rule_files: [ALERTS],
    scrape_configs: [
      {
        job_name: 'matrix-notary',
        static_configs: [
          { targets: [`127.0.0.1:${allMetricsPort}`], labels: { component: 'all' } },
          { targets: [`127.0.0.1:${signerMetricsPort}`], labels: { component: 'signer' } },
        ],
      },
    ],
  };
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config));
  promUrl = `http://127.0.0.1:${promPort}`;
  prometheus = spawn(
    'prometheus',
    [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  prometheus.on('error', (err) => (promOutput += `could not start prometheus: ${err.message} (run deploy/test/install-tools.sh)\n`));
  prometheus.stdout!.on('data', (d) => (promOutput += d));
  prometheus.stderr!.on('data', (d) => (promOutput += d));

  const api = `http://127.0.0.1:${apiPort}`;
  await waitForUrl(`${api}/_notary/health/ready`, all);
  await waitForUrl(`http://127.0.0.1:${signerPort}/healthz`, signer);

  // Traffic for every path the dashboard watches.
  expect(await get(`${api}/_matrix/key/v2/server`)).toBe(200);
  expect(await get(`${api}/_matrix/key/v2/query/${good.serverName}`)).toBe(200); // fetch, stored
  expect(await get(`${api}/_matrix/key/v2/query/${good.serverName}`)).toBe(200); // hit
  expect(await get(`${api}/_matrix/key/v2/query/${lying.serverName}`)).toBe(200); // refused response
  expect(await get(`${api}/_matrix/key/v2/query/127.0.0.2:${closedPort}`)).toBe(200); // forbidden address
  expect(await get(`${api}/_matrix/key/v2/query`, { method: 'POST', body: 'not json', headers: { 'content-type': 'application/json' } })).toBe(400);
  expect(await get(`${api}/_matrix/nothing-here`)).toBe(404);
  expect(await get(`http://127.0.0.1:${signerPort}/_notary/signer/v1/own-keys`, { headers: { authorization: `Bearer ${TOKEN}` } })).toBe(200);
  expect(await get(`http://127.0.0.1:${signerPort}/_notary/signer/v1/own-keys`)).toBe(401);

  await until('prometheus to be ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.status === 200);
  // Several scrapes after the traffic, so every rate has two samples and every rule has run.
  await until('the traffic to be scraped', async () => (await seriesCount('matrix_notary_origin_fetch_refusals_total')) > 0 && (await seriesCount('matrix_notary_signer_operations_total')) > 0);
  const scrapedAt = Date.now();
  await until('three more scrapes and rule evaluations', async () => {
    const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ lastEvaluation: string }> } };
    return Date.now() - scrapedAt > 3000 && r.data.groups.every((g) => Date.parse(g.lastEvaluation) > scrapedAt + 1000);
  });
});

afterAll(async () => {
  prometheus?.kill('SIGTERM');
  if (prometheus && prometheus.exitCode === null) await new Promise((r) => prometheus!.once('exit', r));
  await Promise.all(procs.map((p) => p.stop()));
  await good?.stop();
  await lying?.stop();
  if (prefix) await deletePrefix(prefix);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const exprs = [
  ...dashboardExpressions(dashboard).map((e) => ({ where: `dashboard "${e.panel}"`, expr: grafanaToPromQL(e.expr, { job: 'matrix-notary', rateInterval: RATE_INTERVAL }) })),
  ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr }))),
];
const usedMetrics = [...new Set(exprs.flatMap((e) => metricNamesIn(e.expr)))].sort();

test('both notary processes are scraped, with the labels the rules expect', async () => {
  const r = await query('up{job="matrix-notary"}');
  expect(r.data!.result.map((s) => [s.metric.component, s.value[1]]).sort()).toEqual([
    ['all', '1'],
    ['signer', '1'],
  ]);
});

test('every metric the dashboard and the rules name has data in the scrape', async () => {
  const withoutData: string[] = [];
  for (const series of usedMetrics) {
    if ((await seriesCount(series)) === 0) withoutData.push(series);
  }
  expect(withoutData).toEqual([]);
});

test.each(exprs.map((e) => [e.where, e.expr] as const))('%s: valid, and returns data where its metrics have data', async (_where, expr) => {
  const r = await query(expr);
  expect({ status: r.status, error: r.error }).toEqual({ status: 'success', error: undefined });
  const isAlert = rules.groups.some((g) => g.rules.some((rule) => rule.alert !== undefined && rule.expr === expr));
  if (isAlert) return; // compares a recording rule with a threshold: empty while it does not fire
  expect(r.data!.result.length).toBeGreaterThan(0);
});

test('Prometheus loaded every rule and evaluates each without error', async () => {
  const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
    data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> };
  };
  const loaded = r.data.groups.flatMap((g) => g.rules);
  expect(loaded.length).toBe(rules.groups.flatMap((g) => g.rules).length);
  expect(loaded.filter((x) => x.health !== 'ok').map((x) => `${x.name}: ${x.health} ${x.lastError ?? ''}`)).toEqual([]);
});

test('recording rules over metrics with data produce series', async () => {
  for (const rule of rules.groups.flatMap((g) => g.rules).filter((x) => x.record)) {
    const r = await query(rule.record!);
    expect([rule.record, r.data!.result.length]).toEqual([rule.record, 1]);
  }
  // And the values are the ones the traffic made: a signer is up, no split api/worker needs one.
  expect((await query('matrix_notary:signer_targets_up:count')).data!.result[0].value[1]).toBe('1');
  expect((await query('matrix_notary:signer_client_targets:count')).data!.result[0].value[1]).toBe('0');
});

test("the dashboard's $job variable finds the job", async () => {
  const r = (await (await fetch(`${promUrl}/api/v1/label/job/values?match[]=matrix_notary_process_start_time_seconds`)).json()) as { data: string[] };
  expect(r.data).toEqual(['matrix-notary']);
});
