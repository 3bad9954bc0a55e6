import { createAddressPolicy, isForbiddenAddress, parseAllowedEntry } from '@matrix-notary/federation';

const strict = createAddressPolicy({ allowPrivateAddresses: false, allowedAddresses: [] });

describe('isForbiddenAddress with the filter on and nothing allowed', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback, end of 127/8'],
    ['2130706433', 'loopback as one decimal number'],
    ['0x7f.1', 'loopback in hex, two parts'],
    ['017700000001', 'loopback in octal'],
    ['127.1', 'loopback, short form'],
    ['::1', 'IPv6 loopback'],
    ['0:0:0:0:0:0:0:1', 'IPv6 loopback, long form'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback in hex'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:0:127.0.0.1', 'IPv4-translated (RFC 6145) loopback'],
    ['::127.0.0.1', 'IPv4-compatible (deprecated)'],
    ['::7f00:1', 'IPv4-compatible in hex'],
    ['::8.8.8.8', 'IPv4-compatible even of a public address'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network, 0/8'],
    ['::', 'IPv6 unspecified'],
    ['10.1.2.3', 'private 10/8'],
    ['172.16.0.1', 'private 172.16/12'],
    ['172.31.255.255', 'private 172.16/12 end'],
    ['192.168.1.1', 'private 192.168/16'],
    ['100.64.0.1', 'carrier-grade NAT'],
    ['100.127.255.254', 'carrier-grade NAT end'],
    ['169.254.169.254', 'link-local (cloud metadata)'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast (SSDP)'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved 240/4'],
    ['192.0.2.1', 'documentation TEST-NET-1'],
    ['198.51.100.7', 'documentation TEST-NET-2'],
    ['203.0.113.9', 'documentation TEST-NET-3'],
    ['198.18.0.1', 'benchmarking'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.88.99.1', '6to4 relay anycast'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with a zone'],
    ['fc00::1', 'unique local fc00::/7'],
    ['fd12:3456::1', 'unique local fd00::/8'],
    ['fec0::1', 'deprecated site-local'],
    ['ff02::1', 'IPv6 multicast'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['3fff::1', 'IPv6 documentation 3fff::/20'],
    ['100::1', 'discard-only'],
    ['2001:2::1', 'IPv6 benchmarking'],
    ['64:ff9b::7f00:1', 'NAT64 to loopback'],
    ['64:ff9b::a00:1', 'NAT64 to private'],
    ['64:ff9b:1::808:808', 'local-use NAT64 prefix'],
    ['2002:7f00:1::1', '6to4 of loopback'],
    ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo whose client is 127.0.0.1'],
    ['2001:0:7f00:1:8000:63bf:f7f7:f7f7', 'Teredo whose server is 127.0.0.1'],
    ['4000::1', 'IPv6 outside 2000::/3'],
    ['not-an-address', 'not an address at all'],
    ['', 'empty'],
    ['1.2.3.4.5', 'too many parts'],
  ])('forbids %s (%s)', (ip) => {
    expect(isForbiddenAddress(ip, strict)).toBe(true);
  });

  it.each([
    ['1.1.1.1'],
    ['8.8.8.8'],
    ['93.184.216.34'],
    ['2606:4700:4700::1111'],
    ['2a00:1450:4001:80b::200e'],
    ['::ffff:8.8.8.8'],
    ['64:ff9b::808:808'],
    ['2002:808:808::1'],
    ['2001:0:4136:e378:8000:63bf:f7f7:f7f7'],
  ])('allows the public address %s', (ip) => {
    expect(isForbiddenAddress(ip, strict)).toBe(false);
  });
});

describe('isForbiddenAddress with allowances', () => {
  it('allows addresses inside NOTARY_ALLOWED_ADDRESSES and nothing next to them', () => {
    const policy = createAddressPolicy({ allowPrivateAddresses: false, allowedAddresses: ['127.0.0.2/32', 'fd00::/8', '10.1.0.0/16'] });
    expect(isForbiddenAddress('127.0.0.2', policy)).toBe(false);
    expect(isForbiddenAddress('::ffff:127.0.0.2', policy)).toBe(false);
    expect(isForbiddenAddress('127.0.0.1', policy)).toBe(true);
    expect(isForbiddenAddress('127.0.0.3', policy)).toBe(true);
    expect(isForbiddenAddress('fd00::5', policy)).toBe(false);
    expect(isForbiddenAddress('fc00::5', policy)).toBe(true);
    expect(isForbiddenAddress('10.1.200.3', policy)).toBe(false);
    expect(isForbiddenAddress('10.2.0.1', policy)).toBe(true);
  });

  it('allows any private address with allowPrivateAddresses, but never unspecified, multicast or broadcast', () => {
    const policy = createAddressPolicy({ allowPrivateAddresses: true, allowedAddresses: [] });
    for (const ip of ['127.0.0.1', '10.0.0.1', '::1', 'fe80::1', '169.254.169.254', '::ffff:127.0.0.1', '1.1.1.1']) {
      expect([ip, isForbiddenAddress(ip, policy)]).toEqual([ip, false]);
    }
    for (const ip of ['0.0.0.0', '::', '224.0.0.1', 'ff02::1', '255.255.255.255', '::ffff:0.0.0.0']) {
      expect([ip, isForbiddenAddress(ip, policy)]).toEqual([ip, true]);
    }
  });
});

describe('NOTARY_ALLOWED_ADDRESSES entries', () => {
  it('accepts CIDRs and single addresses', () => {
    expect(parseAllowedEntry('127.0.0.2/32')[1]).toBe(32);
    expect(parseAllowedEntry(' 10.0.0.0/8 ')[1]).toBe(8);
    expect(parseAllowedEntry('fd00::/8')[1]).toBe(8);
    expect(parseAllowedEntry('127.0.0.2')[1]).toBe(32);
    expect(parseAllowedEntry('::1')[1]).toBe(128);
  });

  it.each(['127.0.0.2/33', '127.0.0.2/', '/8', 'localhost', '127.1/32', '2130706433', '::1/129', '10.0.0.0/8/8', 'fe80::1%eth0/64', ''])(
    'rejects %j with an error naming the variable',
    (entry) => {
      expect(() => createAddressPolicy({ allowPrivateAddresses: false, allowedAddresses: [entry] })).toThrow(/NOTARY_ALLOWED_ADDRESSES: ".*"/);
    },
  );
});
