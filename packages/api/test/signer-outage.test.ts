/**
 * DESIGN behaviour 11, signer part, with real api and worker instances, the test Redis and real
 * HTTPS origins: a signer outage does not consume an origin's interval. A response fetched while
 * the signer was down is kept and countersigned when it returns (the origin is not asked again),
 * and no origin is fetched while the signer is known to be down.
 */
import type { LocalSigner } from '@matrix-notary/signer';
import { SignerUnavailableError } from '@matrix-notary/signer-client';
import { counterValue, getJson, useTestBed } from './notary-harness';

jest.setTimeout(60_000);

const bed = useTestBed();

/** The in-process signer behind a switch: while down it fails as an unreachable signer does. */
class SwitchableSigner {
  down = false;
  constructor(private readonly inner: LocalSigner) {}
  private check(): void {
    if (this.down) throw new SignerUnavailableError('could not reach the signer (ECONNREFUSED)', { transient: true });
  }
  async ownKeys() {
    this.check();
    return this.inner.ownKeys();
  }
  async countersign(body: Buffer) {
    this.check();
    return this.inner.countersign(body);
  }
}

async function eventually(check: () => Promise<boolean>, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test('keys fetched while the signer is down are stored when it is back, without asking the origin again', async () => {
  let switchable!: SwitchableSigner;
  // A long interval: recovery must not wait for it.
  const n = await bed.notary({
    env: { NOTARY_ORIGIN_MIN_INTERVAL_S: '600', NOTARY_FETCH_WAIT_MS: '1000' },
    wrapSigner: (s) => (switchable = new SwitchableSigner(s)),
  });
  const first = await bed.origin();
  const second = await bed.origin();
  switchable.down = true;

  const duringOutage = await getJson(n.url(`/_matrix/key/v2/query/${first.serverName}`));
  expect(duringOutage.status).toBe(200);
  expect(duringOutage.json).toEqual({ server_keys: [] });
  expect(first.fetches).toBe(1);

  // The signer is known down now: another origin is not fetched (its response could not be stored).
  expect((await getJson(n.url(`/_matrix/key/v2/query/${second.serverName}`))).json).toEqual({ server_keys: [] });
  expect(second.fetches).toBe(0);

  switchable.down = false;
  const served = async (name: string) => (await getJson(n.url(`/_matrix/key/v2/query/${name}`))).json.server_keys.length === 1;
  expect(await eventually(() => served(first.serverName))).toBe(true);
  expect(await eventually(() => served(second.serverName))).toBe(true);
  // The first origin's response was kept, not fetched again; the second was fetched once, after the outage.
  expect(first.fetches).toBe(1);
  expect(second.fetches).toBe(1);
  // Counted once the job ends, which can be just after its stored keys are first served.
  expect(await eventually(async () => (await counterValue(n.registries, 'matrix_notary_refreshes_total', { outcome: 'stored' })) === 2)).toBe(true);
  expect(await counterValue(n.registries, 'matrix_notary_signer_requests_total', { operation: 'countersign', outcome: 'unavailable' })).toBe(1);
});
