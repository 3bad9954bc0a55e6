import { originFetchSettingsFromEnv, OriginSettingsError } from '../src';

describe('origin fetch settings from the environment', () => {
  it("uses DESIGN's defaults when nothing is set", () => {
    expect(originFetchSettingsFromEnv({})).toEqual({
      allowPrivateAddresses: false,
      allowedAddresses: [],
      connectTimeoutMs: 3000,
      totalTimeoutMs: 10000,
      maxResponseBytes: 1048576,
      dnsServers: [],
    });
  });

  it('reads the notary variables', () => {
    const files: Record<string, string> = { '/ca.pem': '-----BEGIN CERTIFICATE-----\nPEM' };
    const settings = originFetchSettingsFromEnv(
      {
        NOTARY_ALLOW_PRIVATE_ADDRESSES: 'true',
        NOTARY_ALLOWED_ADDRESSES: '127.0.0.2/32, 10.0.0.0/8',
        NOTARY_ORIGIN_CONNECT_TIMEOUT_MS: '500',
        NOTARY_ORIGIN_TIMEOUT_MS: '700',
        NOTARY_MAX_ORIGIN_RESPONSE_BYTES: '2048',
        NOTARY_FEDERATION_CA_FILE: '/ca.pem',
        NOTARY_DNS_SERVERS: '127.0.0.1:5353',
      },
      (p) => files[p] as string,
    );
    expect(settings).toEqual({
      allowPrivateAddresses: true,
      allowedAddresses: ['127.0.0.2/32', '10.0.0.0/8'],
      connectTimeoutMs: 500,
      totalTimeoutMs: 700,
      maxResponseBytes: 2048,
      extraCaPem: '-----BEGIN CERTIFICATE-----\nPEM',
      dnsServers: ['127.0.0.1:5353'],
    });
  });

  it('fails fast naming the variable on a bad value', () => {
    expect(() => originFetchSettingsFromEnv({ NOTARY_ALLOW_PRIVATE_ADDRESSES: 'maybe' })).toThrow(/NOTARY_ALLOW_PRIVATE_ADDRESSES/);
    expect(() => originFetchSettingsFromEnv({ NOTARY_ORIGIN_TIMEOUT_MS: '-1' })).toThrow(OriginSettingsError);
    expect(() => originFetchSettingsFromEnv({ NOTARY_ORIGIN_TIMEOUT_MS: '1.5' })).toThrow(/NOTARY_ORIGIN_TIMEOUT_MS/);
    expect(() =>
      originFetchSettingsFromEnv({ NOTARY_FEDERATION_CA_FILE: '/missing.pem' }, () => {
        throw new Error('ENOENT');
      }),
    ).toThrow(/NOTARY_FEDERATION_CA_FILE \/missing.pem cannot be read/);
  });
});
