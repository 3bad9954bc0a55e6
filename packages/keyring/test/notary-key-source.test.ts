/**
 * The notary key source against an HTTP notary on 127.0.0.1: batching, minimum_valid_until_ts,
 * the pin on the notary's own key response, refusal of answers with a bad notary signature or a
 * bad origin self-signature, the insecure mode, size limits, and the keyring's cache and fallback.
 */
import type { JsonObject } from '@matrix-notary/protocol';
import { Keyring, NotaryKeySource, OriginKeySource, TRANSIENT_RETRY, type RetryPolicy } from '../src';
import { startFakeNotary, type FakeNotary, type FakeNotaryOptions } from './fake-notary';
import { DAY_MS, hashAndSign, keyResponse, makeKey, messageEvent, type TestKey } from './helpers';

const NOW = Date.now();
const NOTARY = 'notary.test';

let notaryKey: TestKey;
let aKey: TestKey;
let bKey: TestKey;
let origins: Map<string, JsonObject[]>;
const running: FakeNotary[] = [];

beforeAll(async () => {
  notaryKey = await makeKey('ed25519:n1');
  aKey = await makeKey('ed25519:a');
  bKey = await makeKey('ed25519:b');
  origins = new Map([
    ['a.example', [keyResponse({ serverName: 'a.example', current: [aKey], validUntilTs: NOW + DAY_MS })]],
    ['b.example', [keyResponse({ serverName: 'b.example', current: [bKey], validUntilTs: NOW + DAY_MS })]],
  ]);
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.close()));
});

async function notary(extra: Partial<FakeNotaryOptions> = {}): Promise<FakeNotary> {
  const n = await startFakeNotary({ serverName: NOTARY, key: notaryKey, origins, ...extra });
  running.push(n);
  return n;
}

function pinned(n: FakeNotary, key = notaryKey): NotaryKeySource {
  return new NotaryKeySource({ url: n.url, pinnedKeys: { [key.keyId]: key.publicKeyBase64 } });
}

const events = (): JsonObject[] => [
  hashAndSign(messageEvent('@x:a.example', NOW - 3 * DAY_MS), '10', 'a.example', aKey),
  hashAndSign(messageEvent('@y:b.example', NOW - DAY_MS), '10', 'b.example', bKey),
  hashAndSign(messageEvent('@z:a.example', NOW - 2 * DAY_MS), '10', 'a.example', aKey),
];

describe('NotaryKeySource', () => {
  it('asks once per batch, with every server and key ID and minimum_valid_until_ts = the latest origin_server_ts', async () => {
    const n = await notary();
    const report = await new Keyring({ sources: [pinned(n)] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('valid');
    expect(n.queries).toEqual([
      {
        server_keys: {
          'a.example': { 'ed25519:a': { minimum_valid_until_ts: NOW - DAY_MS } },
          'b.example': { 'ed25519:b': { minimum_valid_until_ts: NOW - DAY_MS } },
        },
      },
    ]);
    expect(report.events[0]?.servers[0]?.signatures[0]?.key?.source).toBe('notary notary.test');
  });

  it('takes the notary server name from its own key response, verified by the pinned key', async () => {
    const n = await notary();
    const source = pinned(n);
    const identity = await source.identify();
    expect(identity).toMatchObject({ serverName: NOTARY, trust: 'pinned', verifiedByKeyId: 'ed25519:n1' });
    expect(source.name).toBe('notary notary.test');
  });

  it('refuses a notary whose own key response no pinned key verifies, and never queries it', async () => {
    const n = await notary();
    const wrongPin = await makeKey('ed25519:n1');
    const report = await new Keyring({ sources: [pinned(n, wrongPin)] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('undecided');
    expect(report.keySourceFailures).toEqual([expect.objectContaining({ reason: 'notary_untrusted', message: expect.stringMatching(/no pinned key/) })]);
    expect(n.queries).toEqual([]);
  });

  it('refuses query answers with a bad notary signature: the keys are not used', async () => {
    const n = await notary({ countersignWith: await makeKey('ed25519:n1') });
    const report = await new Keyring({ sources: [pinned(n)] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('undecided');
    expect(report.events.every((e) => e.servers[0]?.signatures[0]?.outcome === 'key_not_found')).toBe(true);
    expect(report.keySourceFailures.map((f) => [f.serverName, f.reason])).toEqual([
      ['a.example', 'bad_notary_signature'],
      ['b.example', 'bad_notary_signature'],
    ]);
  });

  it('refuses query answers signed by the notary with a key that is not pinned', async () => {
    const n = await notary({ countersignWith: await makeKey('ed25519:other') });
    const report = await new Keyring({ sources: [pinned(n)] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('undecided');
    expect(report.keySourceFailures[0]?.message).toMatch(/no signature by the notary notary.test with a trusted key/);
  });

  it("refuses a countersigned answer whose origin self-signature no longer verifies", async () => {
    const n = await notary({ tamper: (r) => ({ ...r, valid_until_ts: (r.valid_until_ts as number) + 1 }) });
    const report = await new Keyring({ sources: [pinned(n)] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('undecided');
    expect(report.keySourceFailures.map((f) => f.reason)).toEqual(['bad_server_response', 'bad_server_response']);
  });

  it('refuses an unpinned notary unless it is accepted insecurely', async () => {
    const n = await notary();
    const refused = await new Keyring({ sources: [new NotaryKeySource({ url: n.url })] }).verifyEvents(events(), '10');
    expect(refused.verdict).toBe('undecided');
    expect(refused.keySourceFailures[0]).toMatchObject({ reason: 'notary_untrusted' });
    const insecure = new NotaryKeySource({ url: n.url, insecure: true });
    const accepted = await new Keyring({ sources: [insecure] }).verifyEvents(events(), '10');
    expect(accepted.verdict).toBe('valid');
    expect((await insecure.identify()).trust).toBe('insecure');
  });

  it('ignores keys of servers it did not ask for', async () => {
    const n = await notary();
    const source = pinned(n);
    const result = await source.fetchKeys({ keys: new Map([['a.example', new Set(['ed25519:a'])]]), minimumValidUntilTs: 0 });
    expect(result.records.map((r) => r.serverName)).toEqual(['a.example']);
  });

  it('treats an answer over the size limit as a failed request', async () => {
    const n = await notary();
    const source = new NotaryKeySource({ url: n.url, pinnedKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 }, maxResponseBytes: 600 });
    const report = await new Keyring({ sources: [source] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('undecided');
    expect(report.keySourceFailures[0]).toMatchObject({ reason: 'request_failed', message: expect.stringMatching(/over 600 bytes/) });
  });

  it('reports an unreachable notary as a failure, not a throw', async () => {
    const n = await notary();
    const url = n.url;
    await n.close();
    running.pop();
    const report = await new Keyring({ sources: [new NotaryKeySource({ url, insecure: true, timeoutMs: 2000, retry: NO_WAIT })] }).verifyEvents(
      events(),
      '10',
    );
    expect(report.verdict).toBe('undecided');
    expect(report.keySourceFailures[0]?.reason).toBe('request_failed');
  });
});

/** Three attempts without real waiting; the waits asked for are recorded. */
const waits: number[] = [];
const NO_WAIT: RetryPolicy = { ...TRANSIENT_RETRY, sleep: async (ms) => void waits.push(ms) };

describe('NotaryKeySource retries what failed in transit, and only that', () => {
  beforeEach(() => waits.splice(0));

  it('identifies a notary that answered 503 and cut a connection before answering, waiting longer each time', async () => {
    const n = await notary({ failures: ['503', 'drop'] });
    const source = new NotaryKeySource({ url: n.url, pinnedKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 }, retry: NO_WAIT });
    expect((await source.identify()).serverName).toBe(NOTARY);
    expect(n.requests).toEqual(['GET /_matrix/key/v2/server', 'GET /_matrix/key/v2/server', 'GET /_matrix/key/v2/server']);
    expect(waits).toEqual([TRANSIENT_RETRY.firstDelayMs, TRANSIENT_RETRY.firstDelayMs * 2]);
  });

  it('does not keep a transport failure: the same source works once the notary is back', async () => {
    const n = await notary({ failures: ['503', '503', '503'] });
    const source = new NotaryKeySource({ url: n.url, pinnedKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 }, retry: NO_WAIT });
    const first = await new Keyring({ sources: [source] }).verifyEvents(events(), '10');
    expect(first.keySourceFailures).toEqual([expect.objectContaining({ reason: 'request_failed', message: expect.stringMatching(/HTTP 503/) })]);
    const second = await new Keyring({ sources: [source] }).verifyEvents(events(), '10');
    expect(second.verdict).toBe('valid');
  });

  it('retries a query that failed in transit', async () => {
    // The key response is answered; the first query's connection is cut.
    const n = await notary({ failures: ['ok', 'drop'] });
    const source = new NotaryKeySource({ url: n.url, pinnedKeys: { [notaryKey.keyId]: notaryKey.publicKeyBase64 }, retry: NO_WAIT });
    const report = await new Keyring({ sources: [source] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('valid');
    expect(n.requests).toEqual(['GET /_matrix/key/v2/server', 'POST /_matrix/key/v2/query', 'POST /_matrix/key/v2/query']);
  });

  it('keeps a pin mismatch: a notary that failed its pin is not asked again', async () => {
    const n = await notary();
    const wrongPin = await makeKey('ed25519:n1');
    const source = pinned(n, wrongPin);
    await expect(source.identify()).rejects.toThrow(/no pinned key/);
    await expect(source.identify()).rejects.toThrow(/no pinned key/);
    expect(n.requests).toEqual(['GET /_matrix/key/v2/server']);
  });

  it('does not retry an answer that is an answer (HTTP 404)', async () => {
    const http = await import('node:http');
    let asked = 0;
    const server = http.createServer((_req, res) => {
      asked++;
      res.writeHead(404).end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const source = new NotaryKeySource({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, insecure: true, retry: NO_WAIT });
      await expect(source.identify()).rejects.toThrow(/HTTP 404/);
      expect(asked).toBe(1);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('NotaryKeySource batching and time limits', () => {
  it('splits more than 1000 servers, or more than 100 key IDs of one server, over several POSTs', async () => {
    const n = await notary();
    const keys = new Map<string, Set<string>>();
    for (let i = 0; i < 1001; i++) keys.set(`s${i}.example`, new Set(['ed25519:x']));
    keys.set('many.example', new Set(Array.from({ length: 150 }, (_, i) => `ed25519:k${i}`)));
    await pinned(n).fetchKeys({ keys, minimumValidUntilTs: 0 });
    const sizes = n.queries.map((q) => Object.keys(q.server_keys as JsonObject).length);
    expect(sizes).toEqual([1000, 2, 1]);
    const many = n.queries.flatMap((q) => Object.entries(q.server_keys as JsonObject).filter(([s]) => s === 'many.example'));
    expect(many.map(([, ids]) => Object.keys(ids as JsonObject).length)).toEqual([100, 50]);
  });

  it('gives up on a notary that does not answer within its time limit', async () => {
    const http = await import('node:http');
    const silent = http.createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    // Requests, not connections: undici's pool may open a spare connection after an aborted one.
    let requests = 0;
    silent.on('request', () => requests++);
    try {
      const source = new NotaryKeySource({ url: `http://127.0.0.1:${port}`, insecure: true, timeoutMs: 200, retry: NO_WAIT });
      const result = await source.fetchKeys({ keys: new Map([['a.example', new Set(['ed25519:a'])]]), minimumValidUntilTs: 0 });
      expect(result.failures[0]).toMatchObject({ reason: 'request_failed', message: expect.stringMatching(/within 200 ms/) });
      expect(requests).toBe(TRANSIENT_RETRY.attempts);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});

describe('Keyring with a notary: cache and fallback', () => {
  it('asks the notary once for keys it already got', async () => {
    const n = await notary();
    const keyring = new Keyring({ sources: [pinned(n)] });
    expect((await keyring.verifyEvents(events(), '10')).verdict).toBe('valid');
    expect((await keyring.verifyEvents(events(), '10')).verdict).toBe('valid');
    expect(n.queries).toHaveLength(1);
  });

  it('asks the next source only for the keys the notary did not provide', async () => {
    const n = await notary({ origins: new Map([['a.example', origins.get('a.example') as JsonObject[]]]) });
    const asked: string[] = [];
    const origin = new OriginKeySource({
      fetchServerKeys: async (serverName) => {
        asked.push(serverName);
        return { body: Buffer.from(JSON.stringify((origins.get(serverName) as JsonObject[])[0])) };
      },
    });
    const report = await new Keyring({ sources: [pinned(n), origin] }).verifyEvents(events(), '10');
    expect(report.verdict).toBe('valid');
    expect(asked).toEqual(['b.example']);
    expect(report.events[1]?.servers[0]?.signatures[0]?.key?.source).toBe('origin b.example');
  });

  it('asks again when the cached key does not reach a later event (room v5+)', async () => {
    const short = keyResponse({ serverName: 'a.example', current: [aKey], validUntilTs: NOW - 2 * DAY_MS });
    const n = await notary({ origins: new Map([['a.example', [short]]]) });
    const keyring = new Keyring({ sources: [pinned(n)] });
    const early = hashAndSign(messageEvent('@x:a.example', NOW - 3 * DAY_MS), '10', 'a.example', aKey);
    const late = hashAndSign(messageEvent('@x:a.example', NOW - DAY_MS), '10', 'a.example', aKey);
    expect((await keyring.verifyEvents([early], '10')).verdict).toBe('valid');
    expect((await keyring.verifyEvents([late], '10')).verdict).toBe('invalid');
    expect(n.queries).toHaveLength(2);
    expect((await keyring.verifyEvents([early], '10')).verdict).toBe('valid');
    expect(n.queries).toHaveLength(2);
  });
});
