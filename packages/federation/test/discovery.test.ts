/**
 * One test per row of the README's discovery table: real DNS (a test server as NOTARY_DNS_SERVERS), real HTTPS
 * origins on 127.0.0.x with certificates from a test CA, the address filter on with only the test
 * origins' addresses allowed.
 */
import { whyCannotListen } from '@matrix-notary/testing';
import { useHarness, keysBody, serveJson, type Harness } from './fixtures';

const WELL_KNOWN = '/.well-known/matrix/server';
const KEYS = '/_matrix/key/v2/server';

// The spec's fixed ports need root (or CAP_NET_BIND_SERVICE); without it those rows are skipped.
const noPrivilegedPorts = whyCannotListen('127.0.0.17', 443) ?? whyCannotListen('127.0.0.17', 8448);
const noIPv6 = whyCannotListen('::1', 0);
if (noPrivilegedPorts) console.warn(`skipping discovery rows on ports 443/8448: ${noPrivilegedPorts}`);
if (noIPv6) console.warn(`skipping IPv6 discovery rows: ${noIPv6}`);
const itFixedPorts = noPrivilegedPorts ? it.skip : it;
const itIPv6 = noIPv6 ? it.skip : it;
const itIPv6FixedPort = noIPv6 || whyCannotListen('::1', 8448) ? it.skip : it;

let h: Harness;
useHarness((created) => (h = created));

/** A well-known server on <address>:443 for `name`, answering `body`. */
function wellKnownServer(address: string, name: string, handler = serveJson('{}', 404)) {
  h.dns.set(name, [{ type: 'A', address, ttl: 300 }]);
  return h.origin(address, 443, { dns: [name] }, handler);
}

describe('server discovery (one test per row of the README discovery table)', () => {
  itFixedPorts('1. IPv4 literal without port: that address, port 8448, Host = the name, no SNI, certificate for the IP', async () => {
    const origin = await h.origin('127.0.0.21', 8448, { ips: ['127.0.0.21'] }, serveJson(keysBody('127.0.0.21', 'r1')));
    const res = await h.client().fetchServerKeys('127.0.0.21');
    expect(JSON.parse(res.body.toString()).marker).toBe('r1');
    expect(res).toMatchObject({ address: '127.0.0.21', port: 8448, host: '127.0.0.21', step: 'ip_literal' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: '127.0.0.21', sni: false }]);
  });

  it('2. IPv4 literal with port: that address and port, Host = name:port, no SNI, certificate for the IP', async () => {
    const origin = await h.origin('127.0.0.22', 0, { ips: ['127.0.0.22'] }, serveJson(keysBody('x', 'r2')));
    const name = `127.0.0.22:${origin.port}`;
    const res = await h.client().fetchServerKeys(name);
    expect(JSON.parse(res.body.toString()).marker).toBe('r2');
    expect(res).toMatchObject({ address: '127.0.0.22', port: origin.port, host: name, step: 'ip_literal' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: name, sni: false }]);
  });

  itIPv6FixedPort('3. IPv6 literal without port: [addr]:8448, Host = [addr], no SNI, certificate for the IP', async () => {
    const origin = await h.origin('::1', 8448, { ips: ['::1'] }, serveJson(keysBody('[::1]', 'r3')));
    const res = await h.client().fetchServerKeys('[::1]');
    expect(res).toMatchObject({ address: '::1', port: 8448, host: '[::1]', step: 'ip_literal' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: '[::1]', sni: false }]);
  });

  itIPv6('4. IPv6 literal with port: [addr]:port, Host = [addr]:port, no SNI, certificate for the IP', async () => {
    const origin = await h.origin('::1', 0, { ips: ['::1'] }, serveJson(keysBody('x', 'r4')));
    const name = `[::1]:${origin.port}`;
    const res = await h.client().fetchServerKeys(name);
    expect(res).toMatchObject({ address: '::1', port: origin.port, host: name, step: 'ip_literal' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: name, sni: false }]);
  });

  it('5. hostname with explicit port: its A/AAAA address and that port, Host = name:port, SNI and certificate = hostname', async () => {
    const origin = await h.origin('127.0.0.23', 0, { dns: ['explicit.test'] }, serveJson(keysBody('x', 'r5')));
    h.dns.set('explicit.test', [{ type: 'A', address: '127.0.0.23' }]);
    const name = `explicit.test:${origin.port}`;
    const res = await h.client().fetchServerKeys(name);
    expect(res).toMatchObject({ address: '127.0.0.23', port: origin.port, host: name, step: 'explicit_port' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: name, sni: 'explicit.test' }]);
    // No delegation and no SRV for a name with a port.
    expect(h.dns.queryCount('_matrix-fed._tcp.explicit.test')).toBe(0);
    expect(h.dns.queryCount('_matrix._tcp.explicit.test')).toBe(0);
  });

  itFixedPorts('6. .well-known delegates to an IP literal without port: that IP, 8448, Host = the delegated name, no SNI', async () => {
    const wk = await wellKnownServer('127.0.0.24', 'wk-ip.test', serveJson('{"m.server": "127.0.0.25"}'));
    const origin = await h.origin('127.0.0.25', 8448, { ips: ['127.0.0.25'] }, serveJson(keysBody('x', 'r6')));
    const res = await h.client().fetchServerKeys('wk-ip.test');
    expect(res).toMatchObject({ address: '127.0.0.25', port: 8448, host: '127.0.0.25', step: 'delegated_ip_literal' });
    expect(wk.requests).toEqual([{ method: 'GET', path: WELL_KNOWN, host: 'wk-ip.test', sni: 'wk-ip.test' }]);
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: '127.0.0.25', sni: false }]);
  });

  itFixedPorts('7. .well-known delegates to an IP literal with port: that IP and port, Host = ip:port, no SNI', async () => {
    const origin = await h.origin('127.0.0.27', 0, { ips: ['127.0.0.27'] }, serveJson(keysBody('x', 'r7')));
    const delegated = `127.0.0.27:${origin.port}`;
    await wellKnownServer('127.0.0.26', 'wk-ipport.test', serveJson(JSON.stringify({ 'm.server': delegated })));
    const res = await h.client().fetchServerKeys('wk-ipport.test');
    expect(res).toMatchObject({ address: '127.0.0.27', port: origin.port, host: delegated, step: 'delegated_ip_literal' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: delegated, sni: false }]);
  });

  itFixedPorts('8. .well-known delegates to hostname:port: its address and that port, Host = delegated:port, SNI and certificate = delegated hostname', async () => {
    const origin = await h.origin('127.0.0.29', 0, { dns: ['deleg-port.test'] }, serveJson(keysBody('x', 'r8')));
    h.dns.set('deleg-port.test', [{ type: 'A', address: '127.0.0.29' }]);
    const delegated = `deleg-port.test:${origin.port}`;
    await wellKnownServer('127.0.0.28', 'wk-port.test', serveJson(JSON.stringify({ 'm.server': delegated })));
    const res = await h.client().fetchServerKeys('wk-port.test');
    expect(res).toMatchObject({ address: '127.0.0.29', port: origin.port, host: delegated, step: 'delegated_explicit_port' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: delegated, sni: 'deleg-port.test' }]);
    expect(h.dns.queryCount('_matrix-fed._tcp.deleg-port.test')).toBe(0);
  });

  itFixedPorts('9. .well-known delegates to a hostname with _matrix-fed._tcp SRV: the SRV target, Host = delegated hostname, SNI and certificate = delegated hostname', async () => {
    const origin = await h.origin('127.0.0.31', 0, { dns: ['deleg-srv.test'] }, serveJson(keysBody('x', 'r9')));
    h.dns.set('_matrix-fed._tcp.deleg-srv.test', [{ type: 'SRV', target: 'target-srv.test', port: origin.port }]);
    h.dns.set('target-srv.test', [{ type: 'A', address: '127.0.0.31' }]);
    await wellKnownServer('127.0.0.30', 'wk-srv.test', serveJson('{"m.server": "deleg-srv.test"}'));
    const res = await h.client().fetchServerKeys('wk-srv.test');
    expect(res).toMatchObject({ address: '127.0.0.31', port: origin.port, host: 'deleg-srv.test', step: 'delegated_srv' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: 'deleg-srv.test', sni: 'deleg-srv.test' }]);
  });

  itFixedPorts('10. .well-known delegates to a hostname with only the deprecated _matrix._tcp SRV: its target, Host and certificate = delegated hostname', async () => {
    const origin = await h.origin('127.0.0.33', 0, { dns: ['deleg-legacy.test'] }, serveJson(keysBody('x', 'r10')));
    h.dns.set('_matrix._tcp.deleg-legacy.test', [{ type: 'SRV', target: 'target-legacy.test', port: origin.port }]);
    h.dns.set('target-legacy.test', [{ type: 'A', address: '127.0.0.33' }]);
    await wellKnownServer('127.0.0.32', 'wk-legacy.test', serveJson('{"m.server": "deleg-legacy.test"}'));
    const res = await h.client().fetchServerKeys('wk-legacy.test');
    expect(res).toMatchObject({ address: '127.0.0.33', port: origin.port, host: 'deleg-legacy.test', step: 'delegated_srv_legacy' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: 'deleg-legacy.test', sni: 'deleg-legacy.test' }]);
    expect(h.dns.queryCount('_matrix-fed._tcp.deleg-legacy.test', 'SRV')).toBe(1);
  });

  itFixedPorts('11. .well-known delegates to a hostname without SRV: delegated hostname port 8448, Host and certificate = delegated hostname', async () => {
    const origin = await h.origin('127.0.0.35', 8448, { dns: ['deleg-default.test'] }, serveJson(keysBody('x', 'r11')));
    h.dns.set('deleg-default.test', [{ type: 'A', address: '127.0.0.35' }]);
    await wellKnownServer('127.0.0.34', 'wk-default.test', serveJson('{"m.server": "deleg-default.test"}'));
    const res = await h.client().fetchServerKeys('wk-default.test');
    expect(res).toMatchObject({ address: '127.0.0.35', port: 8448, host: 'deleg-default.test', step: 'delegated_default_port' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: 'deleg-default.test', sni: 'deleg-default.test' }]);
  });

  itFixedPorts('12. no .well-known (404), _matrix-fed._tcp SRV: the SRV target, Host = hostname, SNI and certificate = hostname', async () => {
    const wk = await wellKnownServer('127.0.0.36', 'srv.test');
    const origin = await h.origin('127.0.0.37', 0, { dns: ['srv.test'] }, serveJson(keysBody('x', 'r12')));
    h.dns.set('srv.test', [
      { type: 'A', address: '127.0.0.36' },
    ]);
    h.dns.set('_matrix-fed._tcp.srv.test', [{ type: 'SRV', target: 'target-a.test', port: origin.port }]);
    h.dns.set('target-a.test', [{ type: 'A', address: '127.0.0.37' }]);
    const res = await h.client().fetchServerKeys('srv.test');
    expect(res).toMatchObject({ address: '127.0.0.37', port: origin.port, host: 'srv.test', step: 'srv' });
    expect(wk.requests.map((r) => r.path)).toEqual([WELL_KNOWN]);
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: 'srv.test', sni: 'srv.test' }]);
  });

  it('13. no .well-known (no address), only the deprecated _matrix._tcp SRV: its target, Host and certificate = hostname', async () => {
    const origin = await h.origin('127.0.0.38', 0, { dns: ['legacy.test'] }, serveJson(keysBody('x', 'r13')));
    h.dns.set('_matrix._tcp.legacy.test', [{ type: 'SRV', target: 'target-b.test', port: origin.port }]);
    h.dns.set('target-b.test', [{ type: 'A', address: '127.0.0.38' }]);
    const res = await h.client().fetchServerKeys('legacy.test');
    expect(res).toMatchObject({ address: '127.0.0.38', port: origin.port, host: 'legacy.test', step: 'srv_legacy' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: 'legacy.test', sni: 'legacy.test' }]);
    expect(h.dns.queryCount('_matrix-fed._tcp.legacy.test', 'SRV')).toBe(1);
  });

  itFixedPorts('14. no .well-known (nothing on 443), no SRV: hostname port 8448, Host and certificate = hostname', async () => {
    h.dns.set('plain.test', [{ type: 'A', address: '127.0.0.39' }]);
    const origin = await h.origin('127.0.0.39', 8448, { dns: ['plain.test'] }, serveJson(keysBody('x', 'r14')));
    const res = await h.client().fetchServerKeys('plain.test');
    expect(res).toMatchObject({ address: '127.0.0.39', port: 8448, host: 'plain.test', step: 'default_port' });
    expect(origin.requests).toEqual([{ method: 'GET', path: KEYS, host: 'plain.test', sni: 'plain.test' }]);
    expect(h.dns.queryCount('_matrix-fed._tcp.plain.test', 'SRV')).toBe(1);
    expect(h.dns.queryCount('_matrix._tcp.plain.test', 'SRV')).toBe(1);
  });

  itFixedPorts('15. .well-known answered through a 30x redirect: the redirect is followed (Host, SNI and certificate of each hop\'s URL) and its answer used', async () => {
    const target = await h.origin('127.0.0.41', 0, { dns: ['wk-target.test'] }, serveJson('{"m.server": "deleg-redirect.test"}'));
    h.dns.set('wk-target.test', [{ type: 'A', address: '127.0.0.41' }]);
    const location = `https://wk-target.test:${target.port}/delegation`;
    const wk = await wellKnownServer('127.0.0.40', 'wk-redirect.test', (_req, res) => {
      res.writeHead(302, { Location: location });
      res.end();
    });
    const origin = await h.origin('127.0.0.42', 8448, { dns: ['deleg-redirect.test'] }, serveJson(keysBody('x', 'r15')));
    h.dns.set('deleg-redirect.test', [{ type: 'A', address: '127.0.0.42' }]);
    const res = await h.client().fetchServerKeys('wk-redirect.test');
    expect(res).toMatchObject({ address: '127.0.0.42', port: 8448, host: 'deleg-redirect.test', step: 'delegated_default_port' });
    expect(wk.requests).toEqual([{ method: 'GET', path: WELL_KNOWN, host: 'wk-redirect.test', sni: 'wk-redirect.test' }]);
    expect(target.requests).toEqual([{ method: 'GET', path: '/delegation', host: `wk-target.test:${target.port}`, sni: 'wk-target.test' }]);
    expect(origin.requests).toHaveLength(1);
  });
});

describe('SRV details', () => {
  it('prefers _matrix-fed._tcp over _matrix._tcp when both exist', async () => {
    const fed = await h.origin('127.0.0.43', 0, { dns: ['both.test'] }, serveJson(keysBody('x', 'fed')));
    const old = await h.origin('127.0.0.44', 0, { dns: ['both.test'] }, serveJson(keysBody('x', 'old')));
    h.dns.set('_matrix-fed._tcp.both.test', [{ type: 'SRV', target: 'fed.both.test', port: fed.port }]);
    h.dns.set('_matrix._tcp.both.test', [{ type: 'SRV', target: 'old.both.test', port: old.port }]);
    h.dns.set('fed.both.test', [{ type: 'A', address: '127.0.0.43' }]);
    h.dns.set('old.both.test', [{ type: 'A', address: '127.0.0.44' }]);
    const res = await h.client().fetchServerKeys('both.test');
    expect(JSON.parse(res.body.toString()).marker).toBe('fed');
    expect(old.requests).toHaveLength(0);
    expect(h.dns.queryCount('_matrix._tcp.both.test')).toBe(0);
  });

  it('tries the next SRV target (by priority) when the first refuses the connection', async () => {
    const second = await h.origin('127.0.0.46', 0, { dns: ['multi.test'] }, serveJson(keysBody('x', 'second')));
    // Priority 1 points at a port nothing listens on.
    const closed = await h.origin('127.0.0.45', 0, { dns: ['multi.test'] }, serveJson('{}'));
    const deadPort = closed.port;
    await closed.close();
    h.dns.set('_matrix-fed._tcp.multi.test', [
      { type: 'SRV', target: 'b.multi.test', port: second.port, priority: 20 },
      { type: 'SRV', target: 'a.multi.test', port: deadPort, priority: 1 },
    ]);
    h.dns.set('a.multi.test', [{ type: 'A', address: '127.0.0.45' }]);
    h.dns.set('b.multi.test', [{ type: 'A', address: '127.0.0.46' }]);
    const res = await h.client().fetchServerKeys('multi.test');
    expect(res).toMatchObject({ address: '127.0.0.46', port: second.port, host: 'multi.test', step: 'srv' });
  });

  it('follows a CNAME to the address (the spec\'s "CNAME, AAAA or A records")', async () => {
    const origin = await h.origin('127.0.0.47', 0, { dns: ['alias.test'] }, serveJson(keysBody('x', 'cname')));
    h.dns.set('alias.test', [{ type: 'CNAME', target: 'real.test' }]);
    h.dns.set('real.test', [{ type: 'A', address: '127.0.0.47' }]);
    const res = await h.client().fetchServerKeys(`alias.test:${origin.port}`);
    expect(res.address).toBe('127.0.0.47');
    expect(origin.requests[0]).toMatchObject({ host: `alias.test:${origin.port}`, sni: 'alias.test' });
  });
});
