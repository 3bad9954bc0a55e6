/**
 * The `.well-known/matrix/server` rules of the spec: caching (Cache-Control, Expires, the 24 h
 * default and 48 h cap, failures cached with backoff), redirects (followed, bounded, no loops,
 * https only) and invalid answers (skip to the SRV step). A fake clock drives the cache.
 */
import net from 'node:net';
import type { OriginHandler, TestHttpsServer } from '@matrix-notary/testing';
import { whyCannotListen } from '@matrix-notary/testing';
import { useHarness, keysBody, serveJson, type Harness } from './fixtures';

const WK_ADDRESS = '127.0.0.48';
const ORIGIN_ADDRESS = '127.0.0.49';
const SECOND_MS = 1000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;

const noPort443 = whyCannotListen(WK_ADDRESS, 443);
if (noPort443) console.warn(`skipping .well-known tests: ${noPort443}`);
const describe443 = noPort443 ? describe.skip : describe;

let h: Harness;
useHarness((created) => (h = created));

interface Setup {
  wk: TestHttpsServer;
  origin: TestHttpsServer;
  fetch: () => Promise<{ step: string; port: number }>;
}

/**
 * `name` has a .well-known server on 443 answering with `handler`; the delegated target is an IP
 * literal origin, and `_matrix-fed._tcp.<name>` (the fallback) points at the same origin.
 */
async function delegation(name: string, handler: (delegated: string) => OriginHandler): Promise<Setup> {
  const origin = await h.origin(ORIGIN_ADDRESS, 0, { dns: [name], ips: [ORIGIN_ADDRESS] }, serveJson(keysBody(name, 'ok')));
  const delegated = `${ORIGIN_ADDRESS}:${origin.port}`;
  h.dns.set(name, [{ type: 'A', address: WK_ADDRESS }]);
  h.dns.set(`_matrix-fed._tcp.${name}`, [{ type: 'SRV', target: `origin.${name}`, port: origin.port }]);
  h.dns.set(`origin.${name}`, [{ type: 'A', address: ORIGIN_ADDRESS }]);
  const wk = await h.origin(WK_ADDRESS, 443, { dns: [name] }, handler(delegated));
  const client = h.client();
  return { wk, origin, fetch: () => client.fetchServerKeys(name) };
}

const delegate =
  (headers: Record<string, string> = {}) =>
  (delegated: string): OriginHandler =>
    serveJson(JSON.stringify({ 'm.server': delegated }), 200, headers);

describe443('.well-known caching', () => {
  it('honours Cache-Control max-age', async () => {
    const s = await delegation('max-age.test', delegate({ 'Cache-Control': 'public, max-age=600' }));
    expect((await s.fetch()).step).toBe('delegated_ip_literal');
    h.clock.advance(599 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(1);
    h.clock.advance(2 * SECOND_MS);
    expect((await s.fetch()).step).toBe('delegated_ip_literal');
    expect(s.wk.requests).toHaveLength(2);
  });

  it('honours Expires, measured against the response\'s Date', async () => {
    const date = new Date();
    const expires = new Date(date.getTime() + 900 * SECOND_MS);
    const s = await delegation('expires.test', delegate({ Date: date.toUTCString(), Expires: expires.toUTCString() }));
    await s.fetch();
    h.clock.advance(899 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(1);
    h.clock.advance(2 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(2);
  });

  it('keeps a response without caching headers for 24 hours', async () => {
    const s = await delegation('default-ttl.test', delegate());
    await s.fetch();
    h.clock.advance(24 * HOUR_MS - SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(1);
    h.clock.advance(2 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(2);
  });

  it('keeps a response no longer than 48 hours, whatever it asks', async () => {
    const s = await delegation('long-ttl.test', delegate({ 'Cache-Control': 'max-age=31536000' }));
    await s.fetch();
    h.clock.advance(48 * HOUR_MS - SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(1);
    h.clock.advance(2 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(2);
  });

  it('keeps a delegation at least 5 minutes, even with Cache-Control: no-store', async () => {
    const s = await delegation('no-store.test', delegate({ 'Cache-Control': 'no-store' }));
    await s.fetch();
    h.clock.advance(5 * MINUTE_MS - SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(1);
    h.clock.advance(2 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(2);
  });

  it('caches an answer that is not a delegation (404) for an hour, using the SRV step meanwhile', async () => {
    const s = await delegation('not-found.test', () => serveJson('{"errcode":"M_NOT_FOUND"}', 404));
    expect((await s.fetch()).step).toBe('srv');
    h.clock.advance(HOUR_MS - SECOND_MS);
    expect((await s.fetch()).step).toBe('srv');
    expect(s.wk.requests).toHaveLength(1);
    h.clock.advance(2 * SECOND_MS);
    await s.fetch();
    expect(s.wk.requests).toHaveLength(2);
  });

  it('caches an unreachable .well-known with exponential backoff: 2 minutes, then 4', async () => {
    const name = 'unreachable.test';
    const origin = await h.origin(ORIGIN_ADDRESS, 0, { dns: [name] }, serveJson(keysBody(name, 'ok')));
    h.dns.set(name, [{ type: 'A', address: WK_ADDRESS }]);
    h.dns.set(`_matrix-fed._tcp.${name}`, [{ type: 'SRV', target: `origin.${name}`, port: origin.port }]);
    h.dns.set(`origin.${name}`, [{ type: 'A', address: ORIGIN_ADDRESS }]);
    // Port 443 accepts and hangs up at once: a .well-known that cannot be reached.
    let attempts = 0;
    const rude = net.createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => rude.listen(443, WK_ADDRESS, resolve));
    h.defer(() => new Promise<void>((resolve) => rude.close(() => resolve())));
    const client = h.client();

    expect((await client.fetchServerKeys(name)).step).toBe('srv');
    expect(attempts).toBe(1);
    h.clock.advance(2 * MINUTE_MS - SECOND_MS);
    await client.fetchServerKeys(name);
    expect(attempts).toBe(1);
    h.clock.advance(2 * SECOND_MS);
    await client.fetchServerKeys(name);
    expect(attempts).toBe(2);
    h.clock.advance(4 * MINUTE_MS - SECOND_MS);
    await client.fetchServerKeys(name);
    expect(attempts).toBe(2);
    h.clock.advance(2 * SECOND_MS);
    await client.fetchServerKeys(name);
    expect(attempts).toBe(3);
  });

  it('shares one .well-known request between concurrent fetches of one name', async () => {
    const s = await delegation('concurrent.test', delegate());
    const results = await Promise.all(Array.from({ length: 5 }, () => s.fetch()));
    expect(results.map((r) => r.step)).toEqual(Array(5).fill('delegated_ip_literal'));
    expect(s.wk.requests).toHaveLength(1);
  });
});

describe443('.well-known redirects and invalid answers', () => {
  it('follows at most 5 redirects, then treats the name as undelegated', async () => {
    const s = await delegation('chain.test', () => (req, res) => {
      const hop = Number(/\/hop(\d+)$/.exec(req.url ?? '')?.[1] ?? 0);
      res.writeHead(307, { Location: `/hop${hop + 1}` });
      res.end();
    });
    expect((await s.fetch()).step).toBe('srv');
    expect(s.wk.requests.map((r) => r.path)).toEqual([
      '/.well-known/matrix/server',
      '/hop1',
      '/hop2',
      '/hop3',
      '/hop4',
      '/hop5',
    ]);
  });

  it('stops at a redirect loop', async () => {
    const s = await delegation('loop.test', () => (req, res) => {
      res.writeHead(301, { Location: req.url === '/a' ? '/b' : '/a' });
      res.end();
    });
    expect((await s.fetch()).step).toBe('srv');
    expect(s.wk.requests.map((r) => r.path)).toEqual(['/.well-known/matrix/server', '/a', '/b']);
  });

  it('follows a redirect to the delegation when it is within the limit', async () => {
    const s = await delegation('one-hop.test', (delegated) => (req, res) => {
      if (req.url === '/real') return serveJson(JSON.stringify({ 'm.server': delegated }))(req, res);
      res.writeHead(308, { Location: '/real' });
      res.end();
    });
    expect((await s.fetch()).step).toBe('delegated_ip_literal');
    expect(s.wk.requests.map((r) => r.path)).toEqual(['/.well-known/matrix/server', '/real']);
  });

  it('does not follow a redirect to plain http', async () => {
    const s = await delegation('to-http.test', () => (_req, res) => {
      res.writeHead(302, { Location: 'http://to-http.test/.well-known/matrix/server' });
      res.end();
    });
    expect((await s.fetch()).step).toBe('srv');
    expect(s.wk.requests).toHaveLength(1);
  });

  it.each([
    ['not JSON', 'm.server: example.org'],
    ['no m.server', '{"m.homeserver": "example.org"}'],
    ['m.server not a string', '{"m.server": 8448}'],
    ['m.server not a server name', '{"m.server": "https://example.org/"}'],
    ['a JSON array', '["example.org"]'],
  ])('goes on with the SRV step when the answer is invalid (%s)', async (_why, body) => {
    const s = await delegation(`invalid-${Math.random().toString(36).slice(2, 8)}.test`, () => serveJson(body));
    expect((await s.fetch()).step).toBe('srv');
    expect(s.wk.requests).toHaveLength(1);
  });
});
