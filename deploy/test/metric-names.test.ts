/**
 * Every metric the dashboard and the alert rules name exists in the code: registered by our
 * TypeScript sources, or one of prom-client's default metrics that every role registers with our
 * prefix. The live check against a real scrape is in live-prometheus.test.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import {
  ALERTS,
  baseMetricName,
  dashboardExpressions,
  metricNamesIn,
  promClientDefaultMetricNames,
  readDashboard,
  REPO,
  sourceFiles,
  sourcesNameMetric,
  type RuleFile,
} from './support';

const sources = sourceFiles().map((f) => fs.readFileSync(f, 'utf8'));
const dashboard = readDashboard();
const rules = parse(fs.readFileSync(ALERTS, 'utf8')) as RuleFile;

const expressions = [
  ...dashboardExpressions(dashboard).map((e) => ({ where: `dashboard panel "${e.panel}"`, expr: e.expr })),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ where: `dashboard variable $${v.name}`, expr: (v.query as { query: string }).query })),
  ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `rule ${r.record ?? r.alert}`, expr: r.expr }))),
];
const named = [...new Set(expressions.flatMap((e) => metricNamesIn(e.expr)))].sort();

test('the scan finds what the sources really register (the scan itself works)', () => {
  for (const name of ['matrix_notary_http_requests_total', 'matrix_notary_refreshes_total', 'matrix_notary_origin_fetches_total', 'matrix_notary_signer_operations_total']) {
    expect(sourcesNameMetric(name, sources)).toBe(true);
  }
  expect(sourcesNameMetric('matrix_notary_no_such_metric_total', sources)).toBe(false);
});

test('every role registers prom-client default metrics with our prefix', () => {
  const metricsModule = fs.readFileSync(path.join(REPO, 'packages', 'common', 'src', 'metrics.ts'), 'utf8');
  expect(metricsModule).toMatch(/collectDefaultMetrics\(\{[^}]*prefix: METRIC_PREFIX/);
  expect(metricsModule).toContain("export const METRIC_PREFIX = 'matrix_notary_'");
  expect(promClientDefaultMetricNames()).toContain('matrix_notary_process_resident_memory_bytes');
});

test('every metric the dashboard and the rules name exists in the code', () => {
  const defaults = promClientDefaultMetricNames();
  expect(named.length).toBeGreaterThan(15);
  const missing = named.filter((series) => {
    if (series === 'up') return false; // Prometheus's own, per scrape target
    const name = baseMetricName(series);
    return !(sourcesNameMetric(name, sources) || sourcesNameMetric(series, sources) || defaults.has(series));
  });
  expect(missing).toEqual([]);
});

test('the dashboard has a data-source variable and no hard-coded data-source UID', () => {
  const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
  expect(ds).toMatchObject({ name: 'datasource', query: 'prometheus' });
  const refs = [
    ...dashboard.panels.filter((p) => p.type !== 'row').map((p) => p.datasource),
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.datasource)),
    ...dashboard.templating.list.filter((v) => v.type === 'query').map((v) => v.datasource as { uid?: string }),
  ];
  expect(refs.length).toBeGreaterThan(20);
  for (const ref of refs) expect(ref).toEqual({ type: 'prometheus', uid: '${datasource}' });
});

test('dashboard rates use $__rate_interval and every query selects the $job variable', () => {
  for (const { panel, expr } of dashboardExpressions(dashboard)) {
    for (const m of expr.matchAll(/\b(?:rate|increase)\([^[]*\[([^\]]+)\]/g)) expect([panel, m[1]]).toEqual([panel, '$__rate_interval']);
    for (const m of expr.matchAll(/\b(matrix_notary_[a-z0-9_]+|up)\{([^}]*)\}/g)) expect([panel, m[2]]).toEqual([panel, expect.stringContaining('job=~"$job"')]);
  }
});

test('the dashboard shows what the issue asks for', () => {
  const all = dashboardExpressions(dashboard).map((e) => e.expr).join('\n');
  for (const needle of [
    'http_request_duration_seconds_bucket', // latency p50/p99 by route
    'status="429"', // 429s
    'query_servers_total', // cache outcomes
    'origin_fetches_total', // origin fetch outcomes
    'origin_fetch_refusals_total', // refusals by reason
    'origin_responses_refused_total',
    'refresh_queue_jobs', // queue depth
    'refresh_queue_oldest_waiting_seconds', // queue age
    'signer_request_duration_seconds_bucket', // signer latency
    'signer_requests_total', // signer errors
    'redis_errors_total', // Redis errors
    'up{', // pods up
  ]) {
    expect(all).toContain(needle);
  }
  for (const [q, route] of [['0.5', 'route'], ['0.99', 'route']]) {
    expect(all).toContain(`histogram_quantile(${q}, sum by (le, ${route}) (rate(matrix_notary_http_request_duration_seconds_bucket`);
  }
});
