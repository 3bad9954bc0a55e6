import { Registry } from 'prom-client';
import { FederationClient, type FederationClientOptions } from '@matrix-notary/federation';
import { createTestCa } from '@matrix-notary/testing';

const base: FederationClientOptions = {
  allowPrivateAddresses: false,
  allowedAddresses: [],
  connectTimeoutMs: 1000,
  totalTimeoutMs: 2000,
  maxResponseBytes: 1024,
};

describe('FederationClient options', () => {
  it('rejects a bad NOTARY_ALLOWED_ADDRESSES entry with a clear message', () => {
    expect(() => new FederationClient({ ...base, allowedAddresses: ['127.0.0.1/40'] })).toThrow(
      'NOTARY_ALLOWED_ADDRESSES: "127.0.0.1/40" is not a CIDR',
    );
  });

  it('rejects a bad NOTARY_DNS_SERVERS entry', () => {
    expect(() => new FederationClient({ ...base, dnsServers: ['resolver.example'] })).toThrow(/^NOTARY_DNS_SERVERS: "resolver.example"/);
  });

  it('rejects a CA file without certificates', () => {
    expect(() => new FederationClient({ ...base, extraCaPem: 'not a pem' })).toThrow(/NOTARY_FEDERATION_CA_FILE: no PEM certificate/);
  });

  it.each([
    ['connectTimeoutMs', 0],
    ['totalTimeoutMs', -1],
    ['maxResponseBytes', 1.5],
    ['maxSocketsPerOrigin', 0],
  ])('rejects %s = %p', (key, value) => {
    expect(() => new FederationClient({ ...base, [key]: value })).toThrow(new RegExp(`^${key}.* must be a positive integer`));
  });

  it('accepts a valid CA file and registers its metrics, twice on one registry without clashing', async () => {
    const ca = await createTestCa();
    const registry = new Registry();
    const a = new FederationClient({ ...base, extraCaPem: ca.caPem, registry });
    const b = new FederationClient({ ...base, extraCaPem: ca.caPem, registry });
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toEqual([
      'matrix_notary_origin_fetch_duration_seconds',
      'matrix_notary_origin_fetch_refusals_total',
      'matrix_notary_origin_fetches_total',
    ]);
    await a.close();
    await b.close();
  });
});
