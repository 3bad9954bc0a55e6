/**
 * The Helm chart, checked with the real helm binary (v4.1.4): lint and render every ci/*.yaml
 * value set, validate each rendered object against the Kubernetes schemas, and hold the rendered
 * objects to the chart's security promises.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { VariableReader } from '@matrix-notary/common';
import { readWorkerConfig } from '@matrix-notary/worker';
import { validateObject, type K8sObject } from './k8s-validate';
import { ALERTS, CHART, declaredVariables, helmBin, run, runOk, type RuleFile } from './support';

const CI_DIR = path.join(CHART, 'ci');
const VALUE_SETS = fs.readdirSync(CI_DIR).filter((f) => f.endsWith('.yaml')).sort();
const CRDS = ['--api-versions', 'monitoring.coreos.com/v1/ServiceMonitor', '--api-versions', 'monitoring.coreos.com/v1/PrometheusRule'];
const COMPONENTS = ['api', 'worker', 'signer'];

let helm: string;
let tmp: string;

beforeAll(() => {
  helm = helmBin();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'notary-helm-'));
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function template(args: string[]): K8sObject[] {
  const res = runOk(helm, ['template', 'notary', CHART, '--namespace', 'federation', ...args]);
  return parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function renderValueSet(file: string): K8sObject[] {
  return template(['-f', path.join(CI_DIR, file), ...CRDS]);
}

function valuesFile(name: string, text: string): string {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
}

const MINIMAL = path.join(CI_DIR, 'minimal-values.yaml');

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string }>;
  ports?: Array<{ name: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  startupProbe?: unknown;
  args?: string[];
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string } }>;
  securityContext?: Record<string, unknown>;
  automountServiceAccountToken?: boolean;
}
type Deployment = K8sObject & { spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

const deployments = (objs: K8sObject[]) => objs.filter((o): o is Deployment => o.kind === 'Deployment');
const componentOf = (d: Deployment) => d.spec.template.metadata.labels['app.kubernetes.io/component'];
const byKind = (objs: K8sObject[], kind: string) => objs.filter((o) => o.kind === kind);

test('there are value sets for CI, and they switch on every optional object', () => {
  expect(VALUE_SETS).toEqual(expect.arrayContaining(['minimal-values.yaml', 'all-enabled-values.yaml']));
  const kinds = new Set(VALUE_SETS.flatMap((f) => renderValueSet(f).map((o) => o.kind)));
  for (const kind of ['Deployment', 'Service', 'Secret', 'ServiceAccount', 'NetworkPolicy', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'Ingress', 'ServiceMonitor', 'PrometheusRule']) {
    expect(kinds).toContain(kind);
  }
});

describe.each(VALUE_SETS)('value set %s', (file) => {
  let objs: K8sObject[];
  beforeAll(() => {
    objs = renderValueSet(file);
  });

  test('helm lint --strict passes', () => {
    const res = run(helm, ['lint', '--strict', CHART, '-f', path.join(CI_DIR, file)]);
    expect(`${res.stdout}${res.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(res.code).toBe(0);
  });

  test('every rendered object is valid against the Kubernetes (and prometheus-operator) schemas', () => {
    expect(objs.length).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const obj of objs) {
      try {
        validateObject(obj);
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
    expect(problems).toEqual([]);
  });

  test('one Deployment per role, each pod labelled with its component', () => {
    expect(deployments(objs).map(componentOf).sort()).toEqual([...COMPONENTS].sort());
    for (const d of deployments(objs)) expect(d.spec.template.spec.containers[0].args).toEqual([componentOf(d)]);
  });

  test('the signing key is mounted in signer pods only', () => {
    const values = parse(fs.readFileSync(path.join(CI_DIR, file), 'utf8')) as { signingKey: { existingSecret?: string } };
    const keySecret = values.signingKey.existingSecret || 'notary-matrix-notary-signing-key';
    for (const d of deployments(objs)) {
      const pod = d.spec.template.spec;
      const keyVolumes = (pod.volumes ?? []).filter((v) => v.secret?.secretName === keySecret || /signing-key/.test(v.secret?.secretName ?? ''));
      const keyEnv = pod.containers.flatMap((c) => c.env ?? []).filter((e) => /SIGNING_KEY/.test(e.name));
      if (componentOf(d) === 'signer') {
        expect(keyVolumes.map((v) => v.secret?.secretName)).toContain(keySecret);
        expect(keyEnv.map((e) => e.name)).toContain('NOTARY_SIGNING_KEY_FILE');
      } else {
        expect(keyVolumes).toEqual([]);
        expect(keyEnv).toEqual([]);
      }
    }
  });

  test('non-root, read-only root filesystem, no privilege escalation, every capability dropped', () => {
    for (const d of deployments(objs)) {
      const pod = d.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
      expect(pod.securityContext?.runAsUser).not.toBe(0);
      expect(pod.automountServiceAccountToken).toBe(false);
      for (const c of pod.containers) {
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true });
        expect(c.securityContext?.privileged).not.toBe(true);
        expect(c.securityContext?.capabilities?.drop).toContain('ALL');
      }
    }
  });

  test('every container has probes, resources and a writable /tmp', () => {
    for (const d of deployments(objs)) {
      for (const c of d.spec.template.spec.containers) {
        expect(c.livenessProbe).toBeDefined();
        expect(c.readinessProbe).toBeDefined();
        expect(c.startupProbe).toBeDefined();
        expect(c.resources?.requests?.memory).toBeDefined();
        expect(c.resources?.limits?.memory).toBeDefined();
        expect(c.volumeMounts?.map((m) => m.mountPath)).toContain('/tmp');
      }
    }
  });

  test('the public Service exposes the api port only; metrics have their own headless Service', () => {
    const services = byKind(objs, 'Service') as Array<K8sObject & { spec: { ports: Array<{ name: string; targetPort: string }>; selector: Record<string, string>; clusterIP?: string } }>;
    const metricsServices = services.filter((s) => s.spec.ports.some((p) => p.targetPort === 'metrics'));
    expect(metricsServices.map((s) => s.metadata.name)).toEqual(['notary-matrix-notary-metrics']);
    expect(metricsServices[0].spec.clusterIP).toBe('None');
    expect(metricsServices[0].spec.ports).toHaveLength(1);
    const api = services.find((s) => s.spec.selector['app.kubernetes.io/component'] === 'api')!;
    expect(api.spec.ports.map((p) => p.targetPort)).toEqual(['http']);
    for (const ingress of byKind(objs, 'Ingress') as Array<K8sObject & { spec: { rules: Array<{ http: { paths: Array<{ backend: { service: { name: string; port: { name: string } } } }> } }> } }>) {
      for (const p of ingress.spec.rules.flatMap((r) => r.http.paths)) {
        expect(p.backend.service).toEqual({ name: api.metadata.name, port: { name: 'http' } });
      }
    }
  });

  test('when NetworkPolicies are on, only api and worker pods reach the signer, and the signer reaches nothing', () => {
    const values = parse(fs.readFileSync(path.join(CI_DIR, file), 'utf8')) as { networkPolicy?: { enabled?: boolean } };
    const policies = byKind(objs, 'NetworkPolicy') as Array<
      K8sObject & {
        spec: {
          podSelector: { matchLabels: Record<string, string> };
          policyTypes: string[];
          ingress: Array<{ from?: Array<{ podSelector?: { matchLabels?: Record<string, string> } }>; ports: Array<{ port: string }> }>;
          egress?: unknown[];
        };
      }
    >;
    if (values.networkPolicy?.enabled === false) {
      expect(policies).toEqual([]);
      return;
    }
    expect(policies.map((p) => p.spec.podSelector.matchLabels['app.kubernetes.io/component']).sort()).toEqual(['api', 'signer', 'worker']);
    const signer = policies.find((p) => p.spec.podSelector.matchLabels['app.kubernetes.io/component'] === 'signer')!;
    expect(signer.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(signer.spec.egress).toEqual([]);
    const signerPortRules = signer.spec.ingress.filter((r) => r.ports.some((p) => p.port === 'signer'));
    expect(signerPortRules).toHaveLength(1);
    const peers = signerPortRules[0].from!;
    expect(peers.map((p) => p.podSelector?.matchLabels?.['app.kubernetes.io/component']).sort()).toEqual(['api', 'worker']);
    for (const peer of peers) expect(Object.keys(peer)).toEqual(['podSelector']);
    // Every other rule of every policy opens the metrics port or the api port, nothing else.
    for (const p of policies) {
      for (const rule of p.spec.ingress) {
        for (const port of rule.ports) expect(['signer', 'metrics', 'http']).toContain(port.port);
        if (rule.ports.some((x) => x.port === 'http')) expect(p.spec.podSelector.matchLabels['app.kubernetes.io/component']).toBe('api');
      }
    }
  });

  test('every environment variable a template sets is a documented variable', () => {
    const documented = declaredVariables();
    const names = new Set(deployments(objs).flatMap((d) => d.spec.template.spec.containers.flatMap((c) => (c.env ?? []).map((e) => e.name))));
    expect(names.size).toBeGreaterThan(5);
    expect([...names].filter((n) => !documented.has(n))).toEqual([]);
  });
});

test('the signer token is generated once per render when no Secret is given, and not made when one is', () => {
  const generated = template(['-f', MINIMAL]).find((o) => o.kind === 'Secret' && o.metadata.name === 'notary-matrix-notary-signer-token') as K8sObject & { data: Record<string, string> };
  const token = Buffer.from(generated.data.token, 'base64').toString();
  expect(token).toMatch(/^[A-Za-z0-9]{48}$/);
  const own = template(['-f', path.join(CI_DIR, 'existing-secrets-values.yaml')]);
  expect(own.filter((o) => o.kind === 'Secret')).toEqual([]);
  const worker = deployments(own).find((d) => componentOf(d) === 'worker')!;
  const tokenVolume = worker.spec.template.spec.volumes!.find((v) => v.name === 'signer-token')!;
  expect(tokenVolume.secret!.secretName).toBe('notary-signer-token');
});

test('the Redis password Secret reaches api and worker pods, not the signer', () => {
  const objs = template(['-f', path.join(CI_DIR, 'existing-secrets-values.yaml')]);
  for (const d of deployments(objs)) {
    const secrets = (d.spec.template.spec.volumes ?? []).map((v) => v.secret?.secretName);
    const env = d.spec.template.spec.containers[0].env!.map((e) => e.name);
    if (componentOf(d) === 'signer') {
      expect(secrets).not.toContain('redis-auth');
      expect(env).not.toContain('REDIS_PASSWORD_FILE');
    } else {
      expect(secrets).toContain('redis-auth');
      expect(env).toContain('REDIS_PASSWORD_FILE');
    }
  }
});

test('without a signing key the render fails and says how to make one', () => {
  const res = run(helm, ['template', 'notary', CHART, '--set', 'serverName=notary.example.org']);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain('npx matrix-notary generate-key');
  expect(res.stderr).toContain('docker run --rm IMAGE generate-key');
  expect(res.stderr).toContain('signingKey.existingSecret');
});

test('without a server name the render fails and names the value', () => {
  const res = run(helm, ['template', 'notary', CHART, '--set', 'signingKey.existingSecret=k']);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain('serverName is required');
});

test.each([
  ['both an existing Secret and an inline key', 'signingKey:\n  existingSecret: k\n  value: "ed25519 a b"\n', "'/signingKey'"],
  ['three signers', 'signer:\n  replicas: 3\n', '/signer/replicas'],
  ['an unknown value', 'api:\n  replica: 3\n', "additional properties 'replica' not allowed"],
  ['a log level that does not exist', 'config:\n  logLevel: loud\n', '/config/logLevel'],
  ['a Redis URL that is not one', 'redis:\n  url: http://redis:6379\n', '/redis/url'],
])('the schema refuses %s', (_what, extra, message) => {
  const file = valuesFile('bad.yaml', `serverName: notary.example.org\n${extra}`);
  const res = run(helm, ['template', 'notary', CHART, '-f', MINIMAL, '-f', file]);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain(message);
});

test('Sentinel and Cluster together are refused', () => {
  const file = valuesFile('both.yaml', 'redis:\n  sentinels: ["s:26379"]\n  clusterNodes: ["c:6379"]\n');
  const res = run(helm, ['template', 'notary', CHART, '-f', MINIMAL, '-f', file]);
  expect(res.code).not.toBe(0);
  expect(res.stderr).toContain('redis.sentinels and redis.clusterNodes exclude each other');
});

test("the PrometheusRule holds exactly deploy/prometheus/alerts.yml, and the chart's copy is the same file", () => {
  expect(fs.readFileSync(path.join(CHART, 'files', 'alerts.yml'), 'utf8')).toBe(fs.readFileSync(ALERTS, 'utf8'));
  const rule = renderValueSet('all-enabled-values.yaml').find((o) => o.kind === 'PrometheusRule') as K8sObject & { spec: RuleFile };
  expect(rule.spec.groups).toEqual((parse(fs.readFileSync(ALERTS, 'utf8')) as RuleFile).groups);
});

test('ServiceMonitor and PrometheusRule are made only where their CRDs exist; NOTES says when they are not', () => {
  const all = path.join(CI_DIR, 'all-enabled-values.yaml');
  expect(template(['-f', all]).filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'PrometheusRule')).toEqual([]);
  const monitor = renderValueSet('all-enabled-values.yaml').find((o) => o.kind === 'ServiceMonitor') as K8sObject & {
    spec: { endpoints: Array<{ port: string; relabelings: Array<{ targetLabel: string; replacement?: string; sourceLabels?: string[] }> }> };
  };
  // The rules and the dashboard rely on job="matrix-notary" and a component label.
  expect(monitor.spec.endpoints[0].port).toBe('metrics');
  expect(monitor.spec.endpoints[0].relabelings).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ targetLabel: 'job', replacement: 'matrix-notary' }),
      expect.objectContaining({ targetLabel: 'component', sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'] }),
    ]),
  );
  const notes = runOk(helm, ['install', 'notary', CHART, '--dry-run=client', '-f', all]).stdout;
  expect(notes).toContain('WARNING: metrics.serviceMonitor.enabled is true but this cluster has no ServiceMonitor CRD');
  expect(notes).toContain('WARNING: metrics.prometheusRule.enabled is true but this cluster has no PrometheusRule CRD');
});

test('NOTES tell how to read the public key for trusted_key_servers', () => {
  const notes = runOk(helm, ['install', 'notary', CHART, '--dry-run=client', '-f', MINIMAL]).stdout;
  expect(notes).toContain('curl -s http://127.0.0.1:8080/_matrix/key/v2/server | jq .verify_keys');
  expect(notes).toContain('trusted_key_servers:');
  expect(notes).toContain('server_name: "notary.example.org"');
  expect(notes).not.toContain('WARNING');
});

type PodVolume = { name: string; secret?: { secretName: string; items?: Array<{ key: string; path: string }> }; configMap?: { name: string } };

/** The rendered pods' environment, mounts and volumes of one component. */
function podOf(objs: K8sObject[], component: string): { env: Map<string, string>; mounts: Map<string, string>; volumes: PodVolume[] } {
  const pod = deployments(objs).find((d) => componentOf(d) === component)!.spec.template.spec;
  const container = pod.containers[0];
  return {
    env: new Map((container.env ?? []).map((e) => [e.name, e.value ?? ''])),
    mounts: new Map((container.volumeMounts ?? []).map((m) => [m.mountPath, m.name])),
    volumes: (pod.volumes ?? []) as PodVolume[],
  };
}

test("a rotation's extra signing keys reach signer pods only, each at a path NOTARY_EXTRA_SIGNING_KEY_FILES names", () => {
  const objs = renderValueSet('all-enabled-values.yaml');
  const signer = podOf(objs, 'signer');
  const files = signer.env.get('NOTARY_EXTRA_SIGNING_KEY_FILES')!.split(',');
  expect(files).toHaveLength(2);
  const secrets = byKind(objs, 'Secret') as Array<K8sObject & { data: Record<string, string> }>;
  for (const file of files) {
    const volume = signer.volumes.find((v) => v.name === signer.mounts.get(path.posix.dirname(file)))!;
    const item = volume.secret!.items!.find((i) => i.path === path.posix.basename(file))!;
    expect(item).toBeDefined();
    // An inline key is in the chart's Secret under that key; another is the operator's own Secret.
    const own = secrets.find((s) => s.metadata.name === volume.secret!.secretName);
    if (own !== undefined) expect(Buffer.from(own.data[item.key], 'base64').toString()).toMatch(/^ed25519 \w+ /);
    else expect([volume.secret!.secretName, item.key]).toEqual(['notary-rotation', 'third.key']);
  }
  for (const component of ['api', 'worker']) {
    const pod = podOf(objs, component);
    expect(pod.env.has('NOTARY_EXTRA_SIGNING_KEY_FILES')).toBe(false);
    expect(pod.volumes.filter((v) => /extra-signing/.test(v.name) || /rotation|extra-signing/.test(v.secret?.secretName ?? ''))).toEqual([]);
  }
  // Without extra keys, no variable: /server then lists exactly one key.
  expect(podOf(template(['-f', MINIMAL]), 'signer').env.has('NOTARY_EXTRA_SIGNING_KEY_FILES')).toBe(false);
});

describe('upstream notaries', () => {
  /** What the worker makes of the rendered upstream file under the rendered address policy: its start-up problems. */
  function workerProblemsWith(objs: K8sObject[]): string[] {
    const worker = podOf(objs, 'worker');
    const fileInPod = worker.env.get('NOTARY_UPSTREAM_NOTARIES_FILE')!;
    const volume = worker.volumes.find((v) => v.name === worker.mounts.get(path.posix.dirname(fileInPod)))!;
    const map = byKind(objs, 'ConfigMap').find((c) => c.metadata.name === volume.configMap!.name) as K8sObject & { data: Record<string, string> };
    const local = path.join(tmp, 'upstream-notaries.json');
    fs.writeFileSync(local, map.data[path.posix.basename(fileInPod)]);
    const reader = new VariableReader({
      NOTARY_SERVER_NAME: worker.env.get('NOTARY_SERVER_NAME'),
      NOTARY_SIGNER_TOKEN: 'helm-test-token-0123456789',
      NOTARY_ALLOWED_ADDRESSES: worker.env.get('NOTARY_ALLOWED_ADDRESSES'),
      NOTARY_UPSTREAM_NOTARIES_FILE: local,
    });
    const config = readWorkerConfig(reader);
    try {
      reader.done();
    } catch (err) {
      return (err as { problems: string[] }).problems;
    }
    expect(config.upstreamNotaries.map((u) => u.serverName)).toEqual(['notary.example.net', '[2001:db8::5]:8448']);
    return [];
  }

  test('reach worker pods only, as a file the worker accepts under the rendered address policy', () => {
    const objs = renderValueSet('all-enabled-values.yaml');
    expect(workerProblemsWith(objs)).toEqual([]);
    for (const component of ['api', 'signer']) {
      const pod = podOf(objs, component);
      expect(pod.env.has('NOTARY_UPSTREAM_NOTARIES_FILE')).toBe(false);
      expect(pod.volumes.filter((v) => v.configMap !== undefined)).toEqual([]);
    }
    expect(byKind(template(['-f', MINIMAL]), 'ConfigMap')).toEqual([]);
    expect(podOf(template(['-f', MINIMAL]), 'worker').env.has('NOTARY_UPSTREAM_NOTARIES_FILE')).toBe(false);
  });

  test('one on an address config.allowedAddresses does not list would stop the worker: the check is live', () => {
    const narrower = valuesFile('narrow.yaml', 'config:\n  allowedAddresses: ["192.0.2.10/32"]\n');
    const objs = template(['-f', path.join(CI_DIR, 'all-enabled-values.yaml'), '-f', narrower]);
    expect(workerProblemsWith(objs)).toEqual([expect.stringMatching(/the URL of \[2001:db8::5\]:8448 is on 2001:db8::5, an address the notary refuses/)]);
  });

  test('the schema refuses an upstream without keys, with an unknown field, or more than five', () => {
    const base = 'serverName: notary.example.org\nsigningKey:\n  value: "ed25519 a k"\n';
    const noKeys = valuesFile('no-keys.yaml', `${base}upstreamNotaries:\n  - server_name: a.example\n    url: https://a.example\n    verify_keys: {}\n`);
    const unknown = valuesFile('unknown.yaml', `${base}upstreamNotaries:\n  - server_name: a.example\n    url: https://a.example\n    verify_keys: {"ed25519:x": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"}\n    note: x\n`);
    const entry = (i: number) => `  - server_name: n${i}.example\n    url: https://n${i}.example\n    verify_keys: {"ed25519:x": "Noi6WqcDj0QmPxCNQqgezwTlBKrfqehY1u2FyWP9uYw"}\n`;
    const six = valuesFile('six.yaml', `${base}upstreamNotaries:\n${[0, 1, 2, 3, 4, 5].map(entry).join('')}`);
    for (const file of [noKeys, unknown, six]) {
      const res = run(helm, ['template', 'notary', CHART, '-f', file]);
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/upstreamNotaries/);
    }
    const half = valuesFile('half-key.yaml', `${base}extraSigningKeys:\n  - existingSecret: x\n`);
    expect(run(helm, ['template', 'notary', CHART, '-f', half]).stderr).toMatch(/extraSigningKeys/);
  });
});
