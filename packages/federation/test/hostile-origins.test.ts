/**
 * Origins that fight back, with the address filter on and only the test origins' addresses in
 * NOTARY_ALLOWED_ADDRESSES: each attempt is refused, logged with its reason, and counted.
 */
import https from 'node:https';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { OriginFetchError } from '@matrix-notary/federation';
import { selfSignedCert, whyCannotListen, type OriginHandler, type TestHttpsServer } from '@matrix-notary/testing';
import { createAddressPolicy } from '../src/address-filter';
import { GuardedAgent } from '../src/agent';
import { ALLOWED_TEST_ADDRESSES, useHarness, FORBIDDEN_ADDRESS, keysBody, metricValue, serveJson, type Harness } from './fixtures';

const REFUSALS = 'matrix_notary_origin_fetch_refusals_total';
const FETCHES = 'matrix_notary_origin_fetches_total';

const noFixedPorts = whyCannotListen('127.0.0.80', 443) ?? whyCannotListen(FORBIDDEN_ADDRESS, 8448);
if (noFixedPorts) console.warn(`skipping hostile-origin tests that need ports 443/8448: ${noFixedPorts}`);
const itFixedPorts = noFixedPorts ? it.skip : it;

let h: Harness;
useHarness((created) => (h = created));

async function rejection(p: Promise<unknown>): Promise<OriginFetchError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(OriginFetchError);
    return err as OriginFetchError;
  }
  throw new Error('expected the fetch to be refused, but it succeeded');
}

/** The refusal was logged once at warn level with its reason, and counted. */
async function expectRefusalReported(reason: string, messagePattern: RegExp, serverName?: string): Promise<void> {
  const lines = h.logger.warnings().filter((l) => l.obj['reason'] === reason);
  expect(lines).toHaveLength(1);
  expect(lines[0]!.msg).toMatch(messagePattern);
  if (serverName !== undefined) expect(lines[0]!.obj['serverName']).toBe(serverName);
  expect(await metricValue(h.registry, REFUSALS, { reason })).toBe(1);
}

/** A server on the forbidden address that would gladly serve keys, to prove nobody reached it. */
function forbiddenOrigin(port = 0): Promise<TestHttpsServer> {
  return h.origin(FORBIDDEN_ADDRESS, port, { ips: [FORBIDDEN_ADDRESS], dns: ['internal.test', 'rebind.test'] }, serveJson(keysBody('x', 'internal')));
}

describe('hostile origins are refused (filter on, only test origins allowed)', () => {
  it('slow drip: a server sending a byte a second is cut off at NOTARY_ORIGIN_TIMEOUT_MS', async () => {
    let written = 0;
    const origin = await h.origin('127.0.0.81', 0, { ips: ['127.0.0.81'] }, (_req, res) => {
      // Small, plausible headers and a body that is always just about to finish.
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': '1000' });
      res.write('{');
      written++;
      const drip = setInterval(() => {
        // Bounded: the connection is gone long before this many bytes.
        if (res.destroyed || written >= 60) return clearInterval(drip);
        res.write(' ');
        written++;
      }, 1000);
      res.on('close', () => clearInterval(drip));
    });
    // The drip keeps the connection busy, so only the whole fetch's deadline can end it: the
    // refusal says which limit cut it, and the origin had been dripping when it was cut.
    const err = await rejection(h.client({ totalTimeoutMs: 2500 }).fetchServerKeys(`127.0.0.81:${origin.port}`));
    expect(err.reason).toBe('timeout');
    expect(written).toBeGreaterThanOrEqual(2);
    await expectRefusalReported('timeout', /within 2500 ms/, `127.0.0.81:${origin.port}`);
    expect(await metricValue(h.registry, FETCHES, { outcome: 'timeout' })).toBe(1);
  });

  it('endless body: a response larger than NOTARY_MAX_ORIGIN_RESPONSE_BYTES is cut off while streaming', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const origin = await h.origin('127.0.0.82', 0, { ips: ['127.0.0.82'] }, (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }); // chunked, no length announced
      const pump = (): void => {
        // Bounded at 64 MiB, far past the 64 KiB cap; stops as soon as the client hangs up.
        while (!res.destroyed && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const err = await rejection(h.client({ maxResponseBytes: 64 * 1024 }).fetchServerKeys(`127.0.0.82:${origin.port}`));
    expect(err.reason).toBe('too_large');
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await expectRefusalReported('too_large', /over the 65536-byte limit/);
  });

  it('a Content-Length over the cap is refused before the body is read', async () => {
    const origin = await h.origin('127.0.0.83', 0, { ips: ['127.0.0.83'] }, (_req, res) => {
      res.writeHead(200, { 'Content-Length': String(10 * 1024 * 1024) });
      res.write('{');
    });
    const err = await rejection(h.client({ maxResponseBytes: 64 * 1024 }).fetchServerKeys(`127.0.0.83:${origin.port}`));
    expect(err.reason).toBe('too_large');
    await expectRefusalReported('too_large', /Content-Length 10485760/);
  });

  it('wrong certificate name: a certificate valid for another name is refused', async () => {
    const origin = await h.origin('127.0.0.84', 0, { dns: ['someone-else.test'] }, serveJson(keysBody('x', 'wrong')));
    h.dns.set('wrong-name.test', [{ type: 'A', address: '127.0.0.84' }]);
    const err = await rejection(h.client().fetchServerKeys(`wrong-name.test:${origin.port}`));
    expect(err.reason).toBe('tls');
    expect(origin.requests).toHaveLength(0);
    await expectRefusalReported('tls', /ERR_TLS_CERT_ALTNAME_INVALID/);
  });

  it('self-signed certificate: refused even though it names the server', async () => {
    const origin = await h.originWithCert('127.0.0.85', 0, await selfSignedCert({ dns: ['self-signed.test'] }), serveJson(keysBody('x', 'self')));
    h.dns.set('self-signed.test', [{ type: 'A', address: '127.0.0.85' }]);
    const err = await rejection(h.client().fetchServerKeys(`self-signed.test:${origin.port}`));
    expect(err.reason).toBe('tls');
    expect(origin.requests).toHaveLength(0);
    await expectRefusalReported('tls', /DEPTH_ZERO_SELF_SIGNED_CERT/);
  });

  it('a certificate from a CA the notary does not trust is refused (no NOTARY_FEDERATION_CA_FILE)', async () => {
    const origin = await h.origin('127.0.0.86', 0, { ips: ['127.0.0.86'] }, serveJson(keysBody('x', 'untrusted')));
    const err = await rejection(h.client({ extraCaPem: undefined }).fetchServerKeys(`127.0.0.86:${origin.port}`));
    expect(err.reason).toBe('tls');
    await expectRefusalReported('tls', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/);
  });

  itFixedPorts('.well-known redirect to a forbidden address: the hop is refused and nothing reaches that address', async () => {
    const forbidden = await forbiddenOrigin();
    h.dns.set('evil-redirect.test', [{ type: 'A', address: '127.0.0.80' }]);
    await h.origin('127.0.0.80', 443, { dns: ['evil-redirect.test'] }, (_req, res) => {
      res.writeHead(302, { Location: `https://${FORBIDDEN_ADDRESS}:${forbidden.port}/.well-known/matrix/server` });
      res.end();
    });
    // Nothing on 127.0.0.80:8448: with the delegation refused, the fallback finds no server either.
    const err = await rejection(h.client().fetchServerKeys('evil-redirect.test'));
    expect(err.reason).toBe('connection');
    expect(forbidden.connections).toBe(0);
    await expectRefusalReported('forbidden_address', /\.well-known.*127\.0\.0\.1 is a forbidden address/, 'evil-redirect.test');
  });

  itFixedPorts('.well-known redirect to a name that resolves to a forbidden address: refused at connect time', async () => {
    const forbidden = await forbiddenOrigin();
    h.dns.set('internal.test', [{ type: 'A', address: FORBIDDEN_ADDRESS }]);
    h.dns.set('evil-redirect2.test', [{ type: 'A', address: '127.0.0.80' }]);
    await h.origin('127.0.0.80', 443, { dns: ['evil-redirect2.test'] }, (_req, res) => {
      res.writeHead(301, { Location: `https://internal.test:${forbidden.port}/.well-known/matrix/server` });
      res.end();
    });
    await rejection(h.client().fetchServerKeys('evil-redirect2.test'));
    expect(forbidden.connections).toBe(0);
    await expectRefusalReported('forbidden_address', /internal\.test resolves only to forbidden addresses \(127\.0\.0\.1\)/);
  });

  itFixedPorts('DNS rebinding: a name that answers an allowed address first and a forbidden one next is refused', async () => {
    // First answer (used for the .well-known request) is an allowed test address; the next
    // (at connect time for the 8448 fallback) is the forbidden one. TTL 0: nothing cached.
    const forbidden = await forbiddenOrigin(8448);
    const wk = await h.origin('127.0.0.87', 443, { dns: ['rebind.test'] }, serveJson('{}', 404));
    h.dns.setSequence('rebind.test', 'A', [
      [{ type: 'A', address: '127.0.0.87', ttl: 0 }],
      [{ type: 'A', address: FORBIDDEN_ADDRESS, ttl: 0 }],
    ]);
    const err = await rejection(h.client().fetchServerKeys('rebind.test'));
    expect(err.reason).toBe('forbidden_address');
    expect(wk.requests).toHaveLength(1);
    expect(forbidden.connections).toBe(0);
    expect(h.dns.queryCount('rebind.test', 'A')).toBe(2);
    await expectRefusalReported('forbidden_address', /rebind\.test resolves only to forbidden addresses \(127\.0\.0\.1\)/, 'rebind.test');
  });

  it('an IP literal of a forbidden address is refused without a connection', async () => {
    const forbidden = await forbiddenOrigin();
    const err = await rejection(h.client().fetchServerKeys(`${FORBIDDEN_ADDRESS}:${forbidden.port}`));
    expect(err.reason).toBe('forbidden_address');
    expect(forbidden.connections).toBe(0);
    await expectRefusalReported('forbidden_address', /127\.0\.0\.1 is a forbidden address/);
  });

  it('a name whose DNS answer is a forbidden address is refused without a connection', async () => {
    const forbidden = await forbiddenOrigin();
    h.dns.set('internal.test', [{ type: 'A', address: FORBIDDEN_ADDRESS }, { type: 'AAAA', address: '::ffff:127.0.0.1' }]);
    const err = await rejection(h.client().fetchServerKeys(`internal.test:${forbidden.port}`));
    expect(err.reason).toBe('forbidden_address');
    expect(forbidden.connections).toBe(0);
    await expectRefusalReported('forbidden_address', /forbidden addresses \(::ffff:127\.0\.0\.1, 127\.0\.0\.1\)/);
  });

  it.each(['2130706433', '0x7f.1', '0177.0.0.1', '127.1'])(
    'numeric spelling %s of a forbidden address, through the system resolver, is refused',
    async (spelling) => {
      const forbidden = await forbiddenOrigin();
      const client = h.client({ dnsServers: undefined });
      const err = await rejection(client.fetchServerKeys(`${spelling}:${forbidden.port}`));
      expect(err.reason).toBe('forbidden_address');
      expect(forbidden.connections).toBe(0);
    },
  );

  it('a redirect answering the key request is not followed', async () => {
    const target = await h.origin('127.0.0.88', 0, { ips: ['127.0.0.88'] }, serveJson(keysBody('x', 'elsewhere')));
    const origin = await h.origin('127.0.0.89', 0, { ips: ['127.0.0.89'] }, (_req, res) => {
      res.writeHead(301, { Location: `https://127.0.0.88:${target.port}/_matrix/key/v2/server` });
      res.end();
    });
    const err = await rejection(h.client().fetchServerKeys(`127.0.0.89:${origin.port}`));
    expect(err.reason).toBe('redirect');
    expect(target.connections).toBe(0);
    await expectRefusalReported('redirect', /redirect \(301\); not followed/);
  });

  it('a server that accepts TCP but never completes TLS is cut off at NOTARY_ORIGIN_CONNECT_TIMEOUT_MS', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.90', resolve));
    h.defer(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const port = (silent.address() as net.AddressInfo).port;
    // Cut by the connect timeout, not by the whole fetch's (which would say 'timeout').
    const err = await rejection(h.client({ connectTimeoutMs: 400, totalTimeoutMs: 5000 }).fetchServerKeys(`127.0.0.90:${port}`));
    expect(err.reason).toBe('connect_timeout');
    await expectRefusalReported('connect_timeout', /within 400 ms/);
  });

  it('the socket guard closes a connection to a forbidden address even when the lookup lets it through', async () => {
    const forbidden = await forbiddenOrigin();
    const policy = createAddressPolicy({ allowPrivateAddresses: false, allowedAddresses: ALLOWED_TEST_ADDRESSES });
    // A lookup that ignores the filter, standing in for any path that reaches connect unchecked.
    const lyingLookup: net.LookupFunction = (_host, _opts, cb) => cb(null, [{ address: FORBIDDEN_ADDRESS, family: 4 }]);
    const agent = new GuardedAgent({ policy, lookup: lyingLookup, connectTimeoutMs: 1000, maxSocketsPerOrigin: 1, maxSocketsTotal: 1 });
    h.defer(() => agent.destroy());
    const err = await new Promise<unknown>((resolve) => {
      const req = https.get({ agent, host: 'innocent.test', port: forbidden.port, path: '/', ca: h.ca.caPem }, () => resolve('answered'));
      req.on('error', resolve);
    });
    expect(err).toBeInstanceOf(OriginFetchError);
    expect((err as OriginFetchError).reason).toBe('forbidden_address');
    expect(forbidden.requests).toHaveLength(0);
  });
});

describe('failures that are not refusals', () => {
  it('a non-200 answer rejects with http_status, logged at info and not counted as a refusal', async () => {
    const origin = await h.origin('127.0.0.91', 0, { ips: ['127.0.0.91'] }, serveJson('{"errcode":"M_UNKNOWN"}', 500));
    const err = await rejection(h.client().fetchServerKeys(`127.0.0.91:${origin.port}`));
    expect(err.reason).toBe('http_status');
    expect(h.logger.warnings()).toHaveLength(0);
    expect(h.logger.lines.filter((l) => l.level === 'info' && l.obj['reason'] === 'http_status')).toHaveLength(1);
    expect(await metricValue(h.registry, REFUSALS, { reason: 'http_status' })).toBe(0);
    expect(await metricValue(h.registry, FETCHES, { outcome: 'http_status' })).toBe(1);
  });

  it('an invalid server name is refused before any lookup', async () => {
    const queriesBefore = h.dns.queries.length;
    const err = await rejection(h.client().fetchServerKeys('bad name!'));
    expect(err.reason).toBe('invalid_server_name');
    expect(h.dns.queries).toHaveLength(queriesBefore);
    await expectRefusalReported('invalid_server_name', /is not a valid server name/);
  });

  it('the caller\'s AbortSignal stops a fetch', async () => {
    const origin = await h.origin('127.0.0.92', 0, { ips: ['127.0.0.92'] }, () => undefined); // never answers
    const controller = new AbortController();
    const pending = h.client().fetchServerKeys(`127.0.0.92:${origin.port}`, controller.signal);
    // Aborted while its request is at the origin.
    for (let i = 0; i < 250 && origin.requests.length === 0; i++) await sleep(20);
    expect(origin.requests).toHaveLength(1);
    controller.abort();
    expect((await rejection(pending)).reason).toBe('aborted');
  });
});

describe('connection limits and reuse', () => {
  it('keeps at most maxSocketsPerOrigin connections to one origin, and reuses them', async () => {
    let active = 0;
    let peak = 0;
    const origin = await h.origin('127.0.0.93', 0, { ips: ['127.0.0.93'] }, (_req, res) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        serveJson(keysBody('x', 'limited'))(_req, res);
      }, 50);
    });
    const client = h.client({ maxSocketsPerOrigin: 2 });
    const name = `127.0.0.93:${origin.port}`;
    const results = await Promise.all(Array.from({ length: 6 }, () => client.fetchServerKeys(name)));
    expect(results).toHaveLength(6);
    expect(peak).toBe(2);
    expect(origin.connections).toBe(2);
    await client.fetchServerKeys(name);
    expect(origin.connections).toBe(2);
  });

  it('keeps at most maxSocketsTotal connections over all origins', async () => {
    let active = 0;
    let peak = 0;
    const handler: OriginHandler = (req, res) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        serveJson(keysBody('x', 'total'))(req, res);
      }, 50);
    };
    const a = await h.origin('127.0.0.94', 0, { ips: ['127.0.0.94'] }, handler);
    const b = await h.origin('127.0.0.95', 0, { ips: ['127.0.0.95'] }, handler);
    const client = h.client({ maxSocketsPerOrigin: 3, maxSocketsTotal: 2 });
    await Promise.all([
      ...Array.from({ length: 3 }, () => client.fetchServerKeys(`127.0.0.94:${a.port}`)),
      ...Array.from({ length: 3 }, () => client.fetchServerKeys(`127.0.0.95:${b.port}`)),
    ]);
    expect(peak).toBeLessThanOrEqual(2);
  });

  it('at the total cap, a new origin does not wait for another origin\'s idle connection to time out', async () => {
    const a = await h.origin('127.0.0.96', 0, { ips: ['127.0.0.96'] }, serveJson(keysBody('x', 'a')));
    const b = await h.origin('127.0.0.97', 0, { ips: ['127.0.0.97'] }, serveJson(keysBody('x', 'b')));
    const client = h.client({ maxSocketsTotal: 1, totalTimeoutMs: 3000 });
    await client.fetchServerKeys(`127.0.0.96:${a.port}`); // leaves an idle keep-alive socket (15 s idle timeout)
    // Waiting for that socket's idle timeout would outlast the fetch's 3 s deadline and fail it.
    const res = await client.fetchServerKeys(`127.0.0.97:${b.port}`);
    expect(JSON.parse(res.body.toString()).marker).toBe('b');
  });
});
