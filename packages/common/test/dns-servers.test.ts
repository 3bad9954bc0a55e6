import { parseDnsServers } from '@matrix-notary/common';

describe('parseDnsServers (NOTARY_DNS_SERVERS)', () => {
  it('gives [] for an empty list: the system resolver', () => {
    expect(parseDnsServers('')).toEqual([]);
    expect(parseDnsServers(' , ')).toEqual([]);
  });

  it('accepts ip, ip:port, bare IPv6 and [v6]:port, in the form Resolver#setServers takes', () => {
    expect(parseDnsServers('1.1.1.1, 127.0.0.1:5353,::1,[2001:db8::53]:53,[::1]')).toEqual([
      '1.1.1.1',
      '127.0.0.1:5353',
      '::1',
      '[2001:db8::53]:53',
      '::1',
    ]);
  });

  it.each(['dns.example.org', '1.1.1.1:0', '1.1.1.1:65536', '1.1.1.1:abc', '[::1', '[::1]:', '[1.2.3.4]:53', '::1:53:zz', '300.1.1.1', '1.1.1.1:53:53'])(
    'rejects %j with an error naming the variable',
    (list) => {
      expect(() => parseDnsServers(list)).toThrow(/^NOTARY_DNS_SERVERS: /);
    },
  );
});
