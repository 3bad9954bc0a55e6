/** The README is the operator's reference: it must list every variable, and every metric the roles register with its labels. */
import fs from 'node:fs';
import path from 'node:path';
import { readApiConfig, startApi } from '@matrix-notary/api';
import { createRegistry, renderConfigTable, silentLogger, VARIABLES, VariableReader } from '@matrix-notary/common';
import { generateSeed } from '@matrix-notary/protocol';
import { LocalSigner, startSignerServer } from '@matrix-notary/signer';
import { REDIS_ERRORS_METRIC } from '@matrix-notary/store';
import { deletePrefix, testRedisUrl, uniquePrefix } from '@matrix-notary/testing';
import { readWorkerConfig, startWorker } from '@matrix-notary/worker';
import type { Registry } from 'prom-client';

const README = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');

test('the configuration reference is exactly the table generated from the variable definitions', () => {
  // If this fails, paste the output of `npm run docs:config` into the README.
  expect(README).toContain(renderConfigTable());
});

test("every variable of DESIGN's table is defined and documented", () => {
  const design = [
    'NOTARY_SERVER_NAME', 'NOTARY_SIGNING_KEY_FILE', 'NOTARY_OLD_SIGNING_KEYS_FILE', 'NOTARY_OWN_KEY_VALIDITY_S',
    'REDIS_URL', 'NOTARY_REDIS_PREFIX', 'NOTARY_PORT', 'NOTARY_BIND', 'NOTARY_METRICS_PORT', 'NOTARY_METRICS_BIND',
    'NOTARY_SIGNER_PORT', 'NOTARY_SIGNER_BIND', 'NOTARY_SIGNER_URL', 'NOTARY_SIGNER_TOKEN',
    'NOTARY_ALLOW_PRIVATE_ADDRESSES', 'NOTARY_ALLOWED_ADDRESSES', 'NOTARY_ORIGIN_MIN_INTERVAL_S',
    'NOTARY_ORIGIN_MAX_BACKOFF_S', 'NOTARY_MIN_KEY_VALIDITY_S', 'NOTARY_FETCH_WAIT_MS',
    'NOTARY_ORIGIN_CONNECT_TIMEOUT_MS', 'NOTARY_ORIGIN_TIMEOUT_MS', 'NOTARY_MAX_ORIGIN_RESPONSE_BYTES',
    'NOTARY_MAX_BODY_BYTES', 'NOTARY_MAX_SERVERS_PER_QUERY', 'NOTARY_MAX_KEYS_PER_SERVER',
    'NOTARY_FEDERATION_CA_FILE', 'NOTARY_DNS_SERVERS',
  ];
  for (const name of design) {
    expect(Object.keys(VARIABLES)).toContain(name);
    expect(README).toContain(`| \`${name}\` |`);
  }
  expect(README).toContain('| `NODE_EXTRA_CA_CERTS` |');
});

/** The README's metrics table: each metric's label names, the words of the labels cell outside parentheses. */
function readmeMetricLabels(): Map<string, string[]> {
  const section = README.slice(README.indexOf('## Metrics'));
  const table = new Map<string, string[]>();
  for (const m of section.matchAll(/^\| `(matrix_notary_[a-z_]+)` \| [a-z]+ \|([^|]*)\|/gm)) {
    let depth = 0;
    let outside = '';
    for (const c of m[2]) {
      if (c === '(') depth++;
      else if (c === ')') depth--;
      else if (depth === 0) outside += c;
    }
    table.set(m[1], outside.split(',').map((l) => l.trim()).filter((l) => l !== '').sort());
  }
  return table;
}

/** Each metric's label names as a registry exports it: its own, and the registry's default labels. */
async function registeredLabels(registry: Registry): Promise<Map<string, string[]>> {
  // prom-client's process and Node.js metrics: not the table's (the README names them apart).
  const builtIn = new Set(createRegistry('defaults').getMetricsAsArray().map((m) => m.name));
  const exported = await registry.getMetricsAsJSON();
  const unlabelled = exported.find((m) => builtIn.has(m.name) && m.values.length > 0 && Object.keys(m.values[0].labels).length > 0);
  const defaultLabels = Object.keys(unlabelled?.values[0].labels ?? {});
  const out = new Map<string, string[]>();
  for (const metric of registry.getMetricsAsArray()) {
    if (builtIn.has(metric.name)) continue;
    const own = (metric as unknown as { labelNames: readonly string[] }).labelNames;
    out.set(metric.name, [...new Set([...defaultLabels, ...own])].sort());
  }
  return out;
}

test('every metric the roles register is in the README metrics table, with its labels', async () => {
  // The roles as their start functions build them: api and worker on the test Redis, and the
  // signer role's server; each on the registry its role makes (`all` shares one for api and worker).
  const prefix = uniquePrefix('readme');
  const reader = new VariableReader({
    NOTARY_SERVER_NAME: 'notary.readme.test',
    REDIS_URL: testRedisUrl(),
    NOTARY_REDIS_PREFIX: prefix,
    NOTARY_SIGNER_TOKEN: 'readme-test-token-0123456789',
    NOTARY_PORT: '0',
    NOTARY_BIND: '127.0.0.1',
  });
  const apiConfig = readApiConfig(reader);
  const workerConfig = readWorkerConfig(reader);
  reader.done();
  const logger = silentLogger();
  const signer = new LocalSigner({ serverName: apiConfig.serverName, key: { version: 'readme', seed: generateSeed() }, oldKeys: {}, ownKeyValidityMs: 3_600_000 });
  const registries = { api: createRegistry('api'), worker: createRegistry('worker'), signer: createRegistry('signer') };
  const api = await startApi(apiConfig, { signer, logger, registry: registries.api });
  const worker = await startWorker(workerConfig, { signer, logger, registry: registries.worker });
  const signerServer = await startSignerServer({ signer, port: 0, bind: '127.0.0.1', token: 'readme-test-token-0123456789', maxBodyBytes: 1024, logger, registry: registries.signer });
  let registered: Map<string, string[]>;
  try {
    registered = new Map();
    for (const registry of Object.values(registries)) for (const [name, labels] of await registeredLabels(registry)) registered.set(name, labels);
  } finally {
    await Promise.all([api.stop(), worker.stop(), signerServer.stop()]);
    await signer.close();
    await deletePrefix(prefix);
  }
  const table = readmeMetricLabels();
  // Names the metrics contract promises, so the check cannot pass on an empty registry.
  for (const name of ['matrix_notary_http_requests_total', 'matrix_notary_origin_fetch_duration_seconds', 'matrix_notary_signer_operations_total', REDIS_ERRORS_METRIC]) {
    expect([...registered.keys()]).toContain(name);
  }
  const readmeRows = Object.fromEntries([...registered.keys()].sort().map((name) => [name, table.get(name) ?? 'missing from the README']));
  expect(readmeRows).toEqual(Object.fromEntries([...registered.entries()].sort(([a], [b]) => a.localeCompare(b))));
  // And the table lists nothing that no role registers.
  expect([...table.keys()].filter((name) => !registered.has(name))).toEqual([]);
});
