/**
 * OriginFetchError.hitForbiddenAddress: whether any step of an origin's discovery led to an
 * address the policy forbids, whatever the final reason the fetch failed for. The worker never
 * learns such an origin from upstream notaries (issue 15). Real DNS (the test server), real
 * connections on 127.0.0.x; nothing listens where the allowed targets point.
 */
import { OriginFetchError } from '../src';
import { FORBIDDEN_ADDRESS, useHarness, type Harness } from './fixtures';

let h: Harness;
useHarness((created) => (h = created));

/** An allowed test address where nothing listens on `port`: connections are refused. */
const NOBODY = '127.0.0.45';
const CLOSED_PORT = 1;

async function failure(serverName: string): Promise<OriginFetchError> {
  const err = await h.client().fetchServerKeys(serverName).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof OriginFetchError)) throw new Error(`expected an OriginFetchError, got ${String(err)}`);
  return err;
}

test('an SRV target on a forbidden address, then one that refuses the connection: failed for "connection", and flagged', async () => {
  h.dns.set('_matrix-fed._tcp.mixed-srv.test', [
    { type: 'SRV', target: 'inside.test', port: CLOSED_PORT, priority: 0 },
    { type: 'SRV', target: 'outside.test', port: CLOSED_PORT, priority: 1 },
  ]);
  h.dns.set('inside.test', [{ type: 'A', address: FORBIDDEN_ADDRESS }]);
  h.dns.set('outside.test', [{ type: 'A', address: NOBODY }]);
  const err = await failure('mixed-srv.test');
  expect(err.reason).toBe('connection');
  expect(err.hitForbiddenAddress).toBe(true);
});

test('a .well-known on a forbidden address, then an SRV target that refuses the connection: flagged, also when the lookup is cached', async () => {
  h.dns.set('wk-inside.test', [{ type: 'A', address: FORBIDDEN_ADDRESS }]);
  h.dns.set('_matrix-fed._tcp.wk-inside.test', [{ type: 'SRV', target: 'outside.test', port: CLOSED_PORT }]);
  h.dns.set('outside.test', [{ type: 'A', address: NOBODY }]);
  const first = await failure('wk-inside.test');
  expect([first.reason, first.hitForbiddenAddress]).toEqual(['connection', true]);
  const cached = await failure('wk-inside.test');
  expect([cached.reason, cached.hitForbiddenAddress]).toEqual(['connection', true]);
});

test('an origin that is simply unreachable is not flagged; one resolving to a forbidden address is', async () => {
  h.dns.set('_matrix-fed._tcp.gone.test', [{ type: 'SRV', target: 'outside.test', port: CLOSED_PORT }]);
  h.dns.set('outside.test', [{ type: 'A', address: NOBODY }]);
  const gone = await failure('gone.test');
  expect([gone.reason, gone.hitForbiddenAddress]).toEqual(['connection', false]);
  expect(await failure(`${NOBODY}:${CLOSED_PORT}`)).toMatchObject({ reason: 'connection', hitForbiddenAddress: false });
  expect(await failure(`${FORBIDDEN_ADDRESS}:${CLOSED_PORT}`)).toMatchObject({ reason: 'forbidden_address', hitForbiddenAddress: true });
});
