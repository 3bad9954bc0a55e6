/** The README is the operator's reference: it must list every variable and every metric the code has. */
import fs from 'node:fs';
import path from 'node:path';
import { renderConfigTable, VARIABLES } from '@matrix-notary/common';
import { createApiMetrics } from '@matrix-notary/api';
import { FederationClient } from '@matrix-notary/federation';
import { SIGNER_OPERATIONS_METRIC } from '@matrix-notary/signer';
import { meterSigner } from '@matrix-notary/signer-client';
import { REDIS_ERRORS_METRIC } from '@matrix-notary/store';
import { createWorkerMetrics, registerQueueGauges } from '@matrix-notary/worker';
import { Registry } from 'prom-client';

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

test('every metric the roles register is in the README metrics table', async () => {
  const registry = new Registry();
  createApiMetrics(registry);
  createWorkerMetrics(registry);
  const client = new FederationClient({
    allowPrivateAddresses: false,
    allowedAddresses: [],
    connectTimeoutMs: 1000,
    totalTimeoutMs: 1000,
    maxResponseBytes: 1024,
    registry,
  });
  await client.close();
  registerQueueGauges(registry, { counts: async () => ({ waiting: 0, active: 0, delayed: 0 }), oldestWaitingSince: async () => undefined });
  meterSigner({ ownKeys: async () => ({ bytes: Buffer.alloc(0), validUntilTs: 0, verifyKeys: {} }), countersign: async (b: Buffer) => b }, registry);
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
  names.push(SIGNER_OPERATIONS_METRIC, REDIS_ERRORS_METRIC);
  expect(names.length).toBeGreaterThan(8);
  for (const name of names) expect(README).toContain(`| \`${name}\` |`);
});
