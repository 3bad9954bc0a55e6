/**
 * DESIGN behaviour 9 against real api instances and the test Redis: the request limit per client
 * holds across pods, with 429 M_LIMIT_EXCEEDED and when to come back; the new-origin budget leaves
 * further unknown servers out of the answer (and the origins uncontacted); trusted load balancers'
 * X-Forwarded-For names the client, nobody else's; unlimited clients are exempt from both.
 */
import type { IncomingMessage } from 'node:http';
import { ClientIdentifier } from '../src/client-address';
import { requestWindow } from '../src/client-limits';
import { counterValue, postQuery, useTestBed, type Notary } from './notary-harness';

jest.setTimeout(30_000);

const bed = useTestBed();

/** A window of 5 s holding 5 requests: long enough that none of this test's requests straddle two. */
const FIVE_PER_WINDOW = { NOTARY_CLIENT_REQUESTS_PER_S: '1', NOTARY_CLIENT_BURST: '5' };

function get(n: Notary, api: number, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(n.url('/_matrix/key/v2/server', api), { headers });
}

describe('the request limit', () => {
  it('holds across two api pods: the sixth request of a window is 429 M_LIMIT_EXCEEDED with retry_after_ms and Retry-After', async () => {
    const n = await bed.notary({ apis: 2, env: FIVE_PER_WINDOW });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await get(n, i % 2)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const limited = await get(n, 1);
    expect(limited.status).toBe(429);
    const body = (await limited.json()) as { errcode: string; retry_after_ms: number };
    expect(body).toEqual({ errcode: 'M_LIMIT_EXCEEDED', error: expect.any(String), retry_after_ms: expect.any(Number) });
    expect(body.retry_after_ms).toBeGreaterThan(0);
    expect(body.retry_after_ms).toBeLessThanOrEqual(5000);
    expect(Number(limited.headers.get('retry-after'))).toBe(Math.ceil(body.retry_after_ms / 1000));
    // Key queries count too.
    expect((await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: {} })).status).toBe(429);
  });

  it('does not limit clients in NOTARY_UNLIMITED_CLIENTS', async () => {
    const n = await bed.notary({ env: { ...FIVE_PER_WINDOW, NOTARY_UNLIMITED_CLIENTS: '10.0.0.0/8, 127.0.0.1/32' } });
    for (let i = 0; i < 10; i++) expect((await get(n, 0)).status).toBe(200);
  });

  it("counts clients behind a trusted load balancer by X-Forwarded-For; without trust the header is ignored", async () => {
    const trusted = await bed.notary({ env: { ...FIVE_PER_WINDOW, NOTARY_TRUSTED_PROXIES: '127.0.0.0/8' } });
    for (let i = 0; i < 5; i++) expect((await get(trusted, 0, { 'x-forwarded-for': '198.51.100.7, 203.0.113.1' })).status).toBe(200);
    expect((await get(trusted, 0, { 'x-forwarded-for': '203.0.113.1' })).status).toBe(429);
    // Another client behind the same balancer is not affected; the leftmost entry (written by the client) changes nothing.
    expect((await get(trusted, 0, { 'x-forwarded-for': '203.0.113.1, 203.0.113.2' })).status).toBe(200);

    const untrusted = await bed.notary({ env: FIVE_PER_WINDOW });
    for (let i = 0; i < 5; i++) expect((await get(untrusted, 0, { 'x-forwarded-for': `203.0.113.${10 + i}` })).status).toBe(200);
    expect((await get(untrusted, 0, { 'x-forwarded-for': '203.0.113.99' })).status).toBe(429);
  });

  it('is off with NOTARY_CLIENT_REQUESTS_PER_S=0', async () => {
    const n = await bed.notary({ env: { NOTARY_CLIENT_REQUESTS_PER_S: '0', NOTARY_CLIENT_BURST: '1' } });
    for (let i = 0; i < 10; i++) expect((await get(n, 0)).status).toBe(200);
  });
});

describe('the new-origin budget', () => {
  it('contacts only as many origins it holds nothing for as the budget allows; the rest are absent and uncontacted', async () => {
    const n = await bed.notary({ env: { NOTARY_CLIENT_NEW_ORIGINS_PER_MIN: '2' } });
    const origins = [await bed.origin(), await bed.origin(), await bed.origin()];
    const answer = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: Object.fromEntries(origins.map((o) => [o.serverName, {}])) });
    expect(answer.status).toBe(200);
    expect(answer.json.server_keys.map((e: { server_name: string }) => e.server_name)).toEqual(origins.slice(0, 2).map((o) => o.serverName));
    expect(origins.map((o) => o.fetches)).toEqual([1, 1, 0]);
    expect(await counterValue(n.registries, 'matrix_notary_origins_not_fetched_total', { reason: 'client_budget' })).toBe(1);

    // The budget is spent for the minute; origins already stored still answer, and cost nothing.
    const again = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: Object.fromEntries(origins.map((o) => [o.serverName, {}])) });
    expect(again.json.server_keys).toHaveLength(2);
    expect(origins[2].fetches).toBe(0);
  });

  it('does not apply to unlimited clients', async () => {
    const n = await bed.notary({ env: { NOTARY_CLIENT_NEW_ORIGINS_PER_MIN: '1', NOTARY_UNLIMITED_CLIENTS: '127.0.0.1' } });
    const origins = [await bed.origin(), await bed.origin()];
    const answer = await postQuery(n.url('/_matrix/key/v2/query'), { server_keys: Object.fromEntries(origins.map((o) => [o.serverName, {}])) });
    expect(answer.json.server_keys).toHaveLength(2);
  });
});

describe('ClientIdentifier', () => {
  const req = (remoteAddress: string, forwarded?: string): IncomingMessage =>
    ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as IncomingMessage;

  it('takes the peer, counting an IPv4-mapped IPv6 peer as IPv4 and IPv6 clients per /64', () => {
    const ids = new ClientIdentifier([], []);
    expect(ids.identify(req('::ffff:192.0.2.7'))).toEqual({ key: '192.0.2.7', unlimited: false });
    expect(ids.identify(req('2001:db8:1:2:aaaa::1')).key).toBe('2001:db8:1:2::/64');
    expect(ids.identify(req('2001:db8:1:2:bbbb::9')).key).toBe('2001:db8:1:2::/64');
    expect(ids.identify(req('2001:db8:1:3::1')).key).toBe('2001:db8:1:3::/64');
  });

  it('believes X-Forwarded-For only from trusted proxies, reading it from the right', () => {
    const ids = new ClientIdentifier(['10.0.0.0/8'], ['192.0.2.0/24']);
    expect(ids.identify(req('10.1.1.1', '6.6.6.6, 192.0.2.9, 10.2.2.2'))).toEqual({ key: '192.0.2.9', unlimited: true });
    expect(ids.identify(req('203.0.113.5', '192.0.2.9'))).toEqual({ key: '203.0.113.5', unlimited: false });
    // Junk in the header: the nearest hop that can be named is the client.
    expect(ids.identify(req('10.1.1.1', 'not-an-address')).key).toBe('10.1.1.1');
    expect(ids.identify(req('10.1.1.1')).key).toBe('10.1.1.1');
  });
});

test('the request window: BURST / RATE seconds, at least one, RATE per second on average', () => {
  expect(requestWindow(200, 1000)).toEqual({ points: 1000, durationS: 5 });
  expect(requestWindow(200, 100)).toEqual({ points: 200, durationS: 1 });
  expect(requestWindow(3, 10)).toEqual({ points: 9, durationS: 3 });
});
