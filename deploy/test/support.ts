/**
 * Helpers of the deployment checks: where the tools are, running them, and what the code declares
 * (environment variables, metric names) so the artefacts can be held to it.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VARIABLES } from '@matrix-notary/common';

export const REPO = path.resolve(__dirname, '..', '..');
export const CHART = path.join(REPO, 'helm', 'matrix-notary');
export const ALERTS = path.join(REPO, 'deploy', 'prometheus', 'alerts.yml');
export const DASHBOARD = path.join(REPO, 'deploy', 'grafana', 'matrix-notary.json');

const INSTALL_HINT = 'run `bash deploy/test/install-tools.sh` (npm run test:deploy does)';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a tool to its end; a tool that is not installed fails the test with what to do. */
export function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000, ...opts });
  if (res.error && (res.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${cmd} is not installed: ${INSTALL_HINT}`);
  }
  if (res.error) throw res.error;
  return { code: res.status, stdout: String(res.stdout ?? ''), stderr: String(res.stderr ?? '') };
}

/** Like run, but a non-zero exit fails with the tool's own output. */
export function runOk(cmd: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  const res = run(cmd, args, opts);
  if (res.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
  }
  return res;
}

export function toolsDir(): string {
  return process.env.MATRIX_NOTARY_TOOLS_DIR ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'matrix-notary-tools');
}

/** The helm binary install-tools.sh unpacked (never one from PATH: the version is pinned). */
export function helmBin(): string {
  const bin = path.join(toolsDir(), 'helm-v4.1.4', 'helm');
  if (!fs.existsSync(bin)) throw new Error(`helm v4.1.4 is not at ${bin}: ${INSTALL_HINT}`);
  return bin;
}

/** Node's own variable the README documents beside ours. */
const NODE_VARIABLES = ['NODE_EXTRA_CA_CERTS'];

/** Names a deployment file may set: the declared variables (and so the README's table). */
export function declaredVariables(): Set<string> {
  return new Set([...Object.keys(VARIABLES), ...NODE_VARIABLES]);
}

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (entry.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The TypeScript sources of every package (not their tests). */
export function sourceFiles(): string[] {
  const packages = path.join(REPO, 'packages');
  return fs
    .readdirSync(packages)
    .map((p) => path.join(packages, p, 'src'))
    .filter((p) => fs.existsSync(p))
    .flatMap((p) => walk(p));
}

export const METRIC_PREFIX = 'matrix_notary_';

/**
 * Whether the sources name this metric in a string: written out ('matrix_notary_x_total') or as
 * a prefix constant and the rest (`${METRIC_PREFIX}x_total`).
 */
export function sourcesNameMetric(name: string, sources: string[]): boolean {
  if (!name.startsWith(METRIC_PREFIX)) return false;
  const rest = name.slice(METRIC_PREFIX.length).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const written = new RegExp(`['"\`]${METRIC_PREFIX}${rest}['"\`]`);
  const prefixed = new RegExp(`\\$\\{[A-Za-z_.]+\\}${rest}\``);
  return sources.some((text) => written.test(text) || prefixed.test(text));
}

/**
 * prom-client's default metrics, which every role registers with our prefix
 * (collectDefaultMetrics in packages/common/src/metrics.ts): read from prom-client itself.
 */
export function promClientDefaultMetricNames(): Set<string> {
  const dir = path.join(path.dirname(require.resolve('prom-client/package.json')), 'lib', 'metrics');
  const names = new Set<string>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.js'))) {
    for (const m of fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/'((?:process|nodejs)_[a-z0-9_]+)'/g)) {
      names.add(METRIC_PREFIX + m[1]);
    }
  }
  return names;
}

/** Metric names a PromQL expression uses (ours, and Prometheus's own `up`). */
export function metricNamesIn(expr: string): string[] {
  const names = new Set<string>();
  // Recording-rule names (matrix_notary:...:...) are rules, not metrics: checked apart.
  for (const m of expr.matchAll(/\b(matrix_notary_[a-z0-9_]+|up)\b(?!\s*\()/g)) names.add(m[1]);
  return [...names];
}

/** A histogram's series name back to the metric it belongs to. */
export function baseMetricName(series: string): string {
  return series.replace(/_(bucket|sum|count)$/, '');
}

/** Every PromQL expression of the dashboard, with the panel it belongs to. */
export function dashboardExpressions(dashboard: DashboardJson): Array<{ panel: string; expr: string }> {
  const out: Array<{ panel: string; expr: string }> = [];
  for (const panel of dashboard.panels) {
    for (const target of panel.targets ?? []) out.push({ panel: panel.title, expr: target.expr });
  }
  return out;
}

export interface DashboardJson {
  title: string;
  uid?: string;
  templating: { list: Array<{ name: string; type: string; query?: unknown; datasource?: unknown }> };
  panels: Array<{
    type: string;
    title: string;
    datasource?: { type?: string; uid?: string };
    targets?: Array<{ expr: string; datasource?: { type?: string; uid?: string } }>;
  }>;
}

export function readDashboard(): DashboardJson {
  return JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as DashboardJson;
}

export interface RuleFile {
  groups: Array<{
    name: string;
    rules: Array<{ record?: string; alert?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }>;
  }>;
}

/** Grafana's variables, replaced as Grafana would for a query sent to Prometheus. */
export function grafanaToPromQL(expr: string, vars: { job: string; rateInterval: string }): string {
  return expr.replace(/\$__rate_interval/g, vars.rateInterval).replace(/\$job\b/g, vars.job);
}
