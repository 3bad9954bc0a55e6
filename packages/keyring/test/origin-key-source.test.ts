/**
 * The origin key source with an injected fetch shaped like FederationClient.fetchServerKeys: it
 * keeps validly self-signed answers of the server asked and reports everything else per server.
 */
import type { JsonObject } from '@matrix-notary/protocol';
import { OriginKeySource, type FetchServerKeys } from '../src';
import { DAY_MS, keyResponse, makeKey, type TestKey } from './helpers';

const NOW = Date.now();
let key: TestKey;
let good: JsonObject;

beforeAll(async () => {
  key = await makeKey('ed25519:o');
  good = keyResponse({ serverName: 'o.example', current: [key], validUntilTs: NOW + DAY_MS });
});

const query = (...servers: string[]) => ({
  keys: new Map(servers.map((s) => [s, new Set(['ed25519:o'])])),
  minimumValidUntilTs: NOW,
});

function fetchFrom(answers: Record<string, string | Error>): FetchServerKeys {
  return async (serverName) => {
    const a = answers[serverName];
    if (a === undefined || a instanceof Error) throw a ?? new Error('unknown server');
    return { body: Buffer.from(a) };
  };
}

describe('OriginKeySource', () => {
  it('returns the keys of a validly self-signed answer', async () => {
    const source = new OriginKeySource({ fetchServerKeys: fetchFrom({ 'o.example': JSON.stringify(good) }) });
    const result = await source.fetchKeys(query('o.example'));
    expect(result.failures).toEqual([]);
    expect(result.records).toEqual([
      { serverName: 'o.example', keyId: 'ed25519:o', key: key.publicKeyBase64, kind: 'verify_keys', validUntilTs: NOW + DAY_MS, source: 'origin o.example' },
    ]);
  });

  it('refuses an answer in which the server names itself otherwise', async () => {
    const source = new OriginKeySource({ fetchServerKeys: fetchFrom({ 'p.example': JSON.stringify(good) }) });
    const result = await source.fetchKeys(query('p.example'));
    expect(result.records).toEqual([]);
    expect(result.failures).toEqual([expect.objectContaining({ serverName: 'p.example', reason: 'bad_server_response', message: expect.stringMatching(/names itself o.example/) })]);
  });

  it('refuses an answer whose self-signature does not verify', async () => {
    const forged = { ...good, valid_until_ts: NOW + 2 * DAY_MS };
    const source = new OriginKeySource({ fetchServerKeys: fetchFrom({ 'o.example': JSON.stringify(forged) }) });
    const result = await source.fetchKeys(query('o.example'));
    expect(result.records).toEqual([]);
    expect(result.failures[0]).toMatchObject({ reason: 'bad_server_response' });
  });

  it('reports non-JSON answers and fetch errors per server, keeping the reason of an OriginFetchError', async () => {
    const refused = Object.assign(new Error('address 10.0.0.1 is not public'), { reason: 'address_refused' });
    const source = new OriginKeySource({
      fetchServerKeys: fetchFrom({ 'o.example': JSON.stringify(good), 'bad.example': 'not json', 'priv.example': refused }),
    });
    const result = await source.fetchKeys(query('o.example', 'bad.example', 'priv.example'));
    expect(result.records.map((r) => r.serverName)).toEqual(['o.example']);
    expect(result.failures).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ serverName: 'bad.example', reason: 'bad_response' }),
        expect.objectContaining({ serverName: 'priv.example', reason: 'request_failed', message: 'address_refused: address 10.0.0.1 is not public' }),
      ]),
    );
  });

  it('fetches at most `concurrency` origins at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const source = new OriginKeySource({
      concurrency: 2,
      fetchServerKeys: async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return { body: Buffer.from(JSON.stringify(good)) };
      },
    });
    await source.fetchKeys(query('a.example', 'b.example', 'c.example', 'd.example', 'e.example'));
    expect(peak).toBe(2);
  });
});
