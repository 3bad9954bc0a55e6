/**
 * docker-compose.yml, checked with Debian's docker-compose 1.29 (`config -q` needs no daemon) and
 * the configurations it mounts with their own tools (promtool, haproxy -c). The images of Redis,
 * HAProxy, Prometheus and Grafana cannot be pulled here, so the stack itself is not started.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { parseUpstreamNotaryList } from '@matrix-notary/common';
import { ALERTS, declaredVariables, REPO, run, runOk } from './support';

interface Service {
  image?: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  network_mode?: string;
  ports?: unknown;
  networks?: unknown;
  healthcheck?: { test: string[] };
  secrets?: Array<{ source: string }>;
  read_only?: boolean;
  volumes?: Array<string | { source?: string; target: string }>;
}
interface Compose {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
}

const COMPOSE_DIR = path.join(REPO, 'deploy', 'compose');
let compose: Compose;
let notaryServices: Array<[string, Service]>;

beforeAll(() => {
  // The normalised file, as docker-compose itself reads it (anchors and merges resolved).
  compose = parse(runOk('docker-compose', ['-f', path.join(REPO, 'docker-compose.yml'), 'config'], { cwd: REPO }).stdout) as Compose;
  notaryServices = Object.entries(compose.services).filter(([, s]) => s.image === 'matrix-notary:local');
});

test('docker-compose config -q accepts the file', () => {
  const res = run('docker-compose', ['-f', path.join(REPO, 'docker-compose.yml'), 'config', '-q'], { cwd: REPO });
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
});

test('the services the issue asks for: Redis, one signer, two api, a worker, a load balancer, Prometheus, Grafana', () => {
  expect(Object.keys(compose.services).sort()).toEqual(['api-1', 'api-2', 'grafana', 'haproxy', 'prometheus', 'redis', 'signer', 'worker']);
  expect(notaryServices.map(([, s]) => s.command![0]).sort()).toEqual(['api', 'api', 'signer', 'worker']);
});

test('host networking only, nothing published, the signer and Redis on loopback', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    expect([name, s.network_mode, s.ports, s.networks]).toEqual([name, 'host', undefined, undefined]);
  }
  expect(compose.services.signer.environment!.NOTARY_SIGNER_BIND).toBe('127.0.0.1');
  expect(compose.services.redis.entrypoint!.join(' ')).toContain('--bind 127.0.0.1');
});

test('Redis keeps an append-only file and never evicts (BullMQ needs noeviction)', () => {
  const cmd = compose.services.redis.entrypoint!.join(' ');
  expect(cmd).toContain('--appendonly yes');
  expect(cmd).toContain('--maxmemory-policy noeviction');
  expect(cmd).toContain('requirepass');
  expect(cmd).not.toMatch(/--requirepass/); // not on a command line
});

test('every service has a healthcheck; the notary roles run read-only', () => {
  for (const [name, s] of Object.entries(compose.services)) expect([name, (s.healthcheck?.test.length ?? 0) > 1]).toEqual([name, true]);
  for (const [name, s] of notaryServices) expect([name, s.read_only]).toEqual([name, true]);
});

test('secrets come from files; the signing key reaches the signer only', () => {
  for (const secret of Object.values(compose.secrets)) expect(secret.file).toMatch(/\/data\/compose\//);
  for (const [name, s] of Object.entries(compose.services)) {
    const names = (s.secrets ?? []).map((x) => x.source);
    expect([name, names.includes('signing_key')]).toEqual([name, name === 'signer']);
  }
  for (const [, s] of notaryServices) {
    for (const [key, value] of Object.entries(s.environment ?? {})) {
      if (/TOKEN|PASSWORD|KEY/.test(key)) expect([key, value]).toEqual([key, expect.stringMatching(/^\/run\/secrets\//)]);
    }
  }
});

test('every variable the compose file sets on the notary is a documented variable', () => {
  const documented = declaredVariables();
  const names = new Set(notaryServices.flatMap(([, s]) => Object.keys(s.environment ?? {})));
  expect(names.size).toBeGreaterThan(8);
  expect([...names].filter((n) => !documented.has(n))).toEqual([]);
});

test("Prometheus's configuration passes promtool, loads the alert rules and scrapes every notary process", () => {
  const config = parse(fs.readFileSync(path.join(COMPOSE_DIR, 'prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: Array<{ job_name: string; static_configs: Array<{ targets: string[]; labels: { component: string } }> }>;
  };
  const mounts = compose.services.prometheus.volumes!.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
  expect(mounts).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`deploy/prometheus/alerts\\.yml:${config.rule_files[0]}`))]));
  // promtool resolves rule files on this machine: check a copy that points at the real file.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-compose-'));
  try {
    const local = { ...config, rule_files: [ALERTS] };
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(local));
    const res = run('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')]);
    expect(`${res.stdout}${res.stderr}`).toContain('SUCCESS');
    expect(res.code).toBe(0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const [job] = config.scrape_configs;
  expect(job.job_name).toBe('matrix-notary');
  const scraped = job.static_configs.flatMap((c) => c.targets.map((t) => `${c.labels.component} ${t}`)).sort();
  const expected = notaryServices.map(([, s]) => `${s.command![0]} 127.0.0.1:${s.environment!.NOTARY_METRICS_PORT}`).sort();
  expect(scraped).toEqual(expected);
});

test('HAProxy accepts its configuration and balances exactly the two api processes', () => {
  const cfg = path.join(COMPOSE_DIR, 'haproxy.cfg');
  const res = run('haproxy', ['-c', '-f', cfg]);
  expect(res.code).toBe(0);
  const servers = [...fs.readFileSync(cfg, 'utf8').matchAll(/^\s*server \S+ (\S+)/gm)].map((m) => m[1]);
  const apis = notaryServices.filter(([, s]) => s.command![0] === 'api').map(([, s]) => `127.0.0.1:${s.environment!.NOTARY_PORT}`);
  expect(new Set(servers)).toEqual(new Set(apis));
  expect(compose.services.haproxy.volumes!.map((v) => (typeof v === 'string' ? v : v.target)).join(' ')).toContain('haproxy.cfg');
});

test('Grafana gets Prometheus as its data source and the dashboard from deploy/grafana', () => {
  const ds = parse(fs.readFileSync(path.join(COMPOSE_DIR, 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8')) as { datasources: Array<{ type: string; url: string; isDefault: boolean }> };
  expect(ds.datasources).toEqual([expect.objectContaining({ type: 'prometheus', url: 'http://127.0.0.1:9090', isDefault: true })]);
  const provider = parse(fs.readFileSync(path.join(COMPOSE_DIR, 'grafana', 'provisioning', 'dashboards', 'matrix-notary.yml'), 'utf8')) as { providers: Array<{ options: { path: string } }> };
  const mounts = compose.services.grafana.volumes!.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`));
  expect(mounts).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`deploy/grafana/matrix-notary\\.json:${provider.providers[0].options.path}/matrix-notary\\.json`))]));
});

test("the worker reads the shipped upstream notaries file (an empty list: none asked), and it is a list the worker accepts", () => {
  const worker = compose.services.worker;
  const inPod = worker.environment!.NOTARY_UPSTREAM_NOTARIES_FILE;
  const mount = worker.volumes!.map((v) => (typeof v === 'string' ? v : `${v.source}:${v.target}`)).find((v) => v.includes(`:${inPod}`))!;
  const onHost = mount.split(':')[0];
  expect(onHost).toBe(path.join(COMPOSE_DIR, 'upstream-notaries.json'));
  expect(parseUpstreamNotaryList(fs.readFileSync(onHost, 'utf8'), 'localhost:8080')).toEqual([]);
  for (const [name, s] of notaryServices) {
    if (name !== 'worker') expect([name, s.environment?.NOTARY_UPSTREAM_NOTARIES_FILE]).toEqual([name, undefined]);
  }
});

test('the rotation override gives the new key to the signer only, as a secret file', () => {
  const rotation = path.join(COMPOSE_DIR, 'rotation.override.yml');
  const merged = parse(
    runOk('docker-compose', ['-f', path.join(REPO, 'docker-compose.yml'), '-f', rotation, 'config'], { cwd: REPO }).stdout,
  ) as Compose;
  expect(merged.services.signer.environment!.NOTARY_EXTRA_SIGNING_KEY_FILES).toBe('/run/secrets/next_signing_key');
  expect(merged.services.signer.environment!.NOTARY_SIGNING_KEY_FILE).toBe('/run/secrets/signing_key');
  expect((merged.services.signer.secrets ?? []).map((x) => x.source).sort()).toEqual(['next_signing_key', 'signer_token', 'signing_key']);
  expect(merged.secrets.next_signing_key.file).toBe(path.join(REPO, 'data', 'compose', 'next.key'));
  for (const [name, s] of Object.entries(merged.services)) {
    if (name === 'signer') continue;
    expect([name, (s.secrets ?? []).map((x) => x.source)]).toEqual([name, expect.not.arrayContaining(['next_signing_key'])]);
  }
});
