import dns from 'node:dns';
import { TestDnsServer } from '@matrix-notary/testing';

describe('TestDnsServer', () => {
  let server: TestDnsServer;
  let resolver: dns.promises.Resolver;
  beforeAll(async () => {
    server = await TestDnsServer.start();
    resolver = new dns.promises.Resolver({ timeout: 500, tries: 1 });
    resolver.setServers([server.resolverAddress]);
  });
  afterAll(() => server.close());

  it('answers A, AAAA and SRV with the TTLs set, and NXDOMAIN for unknown names', async () => {
    server.set('origin.test', [
      { type: 'A', address: '127.0.0.5', ttl: 42 },
      { type: 'AAAA', address: '::1', ttl: 7 },
    ]);
    server.set('_matrix-fed._tcp.origin.test', [{ type: 'SRV', target: 'target.test', port: 8448, priority: 5, weight: 3 }]);
    expect(await resolver.resolve4('origin.test', { ttl: true })).toEqual([{ address: '127.0.0.5', ttl: 42 }]);
    expect(await resolver.resolve6('origin.test', { ttl: true })).toEqual([{ address: '::1', ttl: 7 }]);
    expect(await resolver.resolveSrv('_matrix-fed._tcp.origin.test')).toEqual([
      { name: 'target.test', port: 8448, priority: 5, weight: 3 },
    ]);
    await expect(resolver.resolve4('unknown.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(resolver.resolveSrv('origin.test')).rejects.toMatchObject({ code: 'ENODATA' });
    expect(server.queryCount('origin.test', 'A')).toBe(1);
  });

  it('answers a sequence, one entry per query, repeating the last', async () => {
    server.setSequence('flip.test', 'A', [
      [{ type: 'A', address: '127.0.0.2', ttl: 0 }],
      [{ type: 'A', address: '127.0.0.3', ttl: 0 }],
    ]);
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push((await resolver.resolve4('flip.test'))[0]!);
    expect(answers).toEqual(['127.0.0.2', '127.0.0.3', '127.0.0.3']);
  });
});
