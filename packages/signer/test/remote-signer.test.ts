/** RemoteSigner against a real signer server: the same bytes as LocalSigner, and clear failures. */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { LocalSigner, startSignerServer, type RunningSignerServer } from '@matrix-notary/signer';
import { RemoteSigner, SignerRefusedError, SignerUnavailableError } from '@matrix-notary/signer-client';
import { captureLogs, DAY_MS, NOTARY_KEY, NOTARY_NAME, NOW_MS, originResponse, originResponseBytes } from './helpers';

const TOKEN = 'remote-test-token';

let local: LocalSigner;
let server: RunningSignerServer;
let remote: RemoteSigner;

function remoteTo(port: number, overrides: Partial<ConstructorParameters<typeof RemoteSigner>[0]> = {}): RemoteSigner {
  return new RemoteSigner({ url: `http://127.0.0.1:${port}`, token: TOKEN, timeoutMs: 5000, serverName: NOTARY_NAME, ...overrides });
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error;
}

/** A plain HTTP server for failure cases; its sockets are tracked so it can always be stopped. */
async function plainServer(handler: http.RequestListener): Promise<{ port: number; stop: () => Promise<void> }> {
  const srv = http.createServer(handler);
  const sockets = new Set<Socket>();
  srv.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return {
    port: (srv.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  local = new LocalSigner({ serverName: NOTARY_NAME, key: NOTARY_KEY, ownKeyValidityMs: DAY_MS, now: () => NOW_MS });
  server = await startSignerServer({ signer: local, port: 0, bind: '127.0.0.1', token: TOKEN, maxBodyBytes: 16 * 1024, logger: captureLogs().logger });
  remote = remoteTo(server.port);
});

afterAll(async () => {
  await remote.close();
  await server.stop();
});

describe('round trip', () => {
  test('ownKeys: byte-identical to LocalSigner, with the same validity and verify keys', async () => {
    const [viaHttp, direct] = await Promise.all([remote.ownKeys(), local.ownKeys()]);
    expect(viaHttp.bytes.equals(direct.bytes)).toBe(true);
    expect(viaHttp.validUntilTs).toBe(direct.validUntilTs);
    expect(viaHttp.verifyKeys).toEqual(direct.verifyKeys);
    expect(remote.serverName).toBe(local.serverName);
  });

  test('countersign: byte-identical to LocalSigner', async () => {
    const input = originResponseBytes({ extra: { 'org.example': ['kept', 1] } });
    const [viaHttp, direct] = await Promise.all([remote.countersign(input), local.countersign(input)]);
    expect(viaHttp.equals(direct)).toBe(true);
  });

  test('many calls in a row and at once all succeed over the kept-alive connections', async () => {
    const input = originResponseBytes();
    const expected = await local.countersign(input);
    for (let i = 0; i < 5; i++) expect((await remote.countersign(input)).equals(expected)).toBe(true);
    const all = await Promise.all(Array.from({ length: 20 }, () => remote.countersign(input)));
    for (const out of all) expect(out.equals(expected)).toBe(true);
  });
});

describe('refusals come back as SignerRefusedError with the signer\'s reason', () => {
  test.each([
    // Thunks: the table is built before libsodium has loaded.
    ['not JSON', () => Buffer.from('nope'), 'not_json'],
    ['a float', () => Buffer.from('{"a":1.5}'), 'not_canonical_json'],
    ['a bad signature', () => Buffer.from(JSON.stringify({ ...originResponse(), valid_until_ts: 3 })), 'bad_signature'],
    ['no signature', () => Buffer.from(JSON.stringify({ ...originResponse(), signatures: {} })), 'no_valid_signature'],
    ['the notary\'s own name', () => Buffer.from(JSON.stringify(originResponse({ serverName: NOTARY_NAME }))), 'own_name'],
  ])('%s', async (_label, makeInput, reason) => {
    const input = makeInput();
    const viaHttp = await rejection(remote.countersign(input));
    const direct = await rejection(local.countersign(input));
    expect(viaHttp).toBeInstanceOf(SignerRefusedError);
    expect((viaHttp as SignerRefusedError).reason).toBe(reason);
    expect((direct as SignerRefusedError).reason).toBe(reason);
    expect(viaHttp.message).toBe(direct.message);
  });

  test('a body over the signer\'s limit is too_large', async () => {
    const err = await rejection(remote.countersign(Buffer.alloc(64 * 1024, 0x20)));
    expect(err).toBeInstanceOf(SignerRefusedError);
    expect((err as SignerRefusedError).reason).toBe('too_large');
  });
});

describe('failures are SignerUnavailableError saying what to check', () => {
  test('a wrong token names NOTARY_SIGNER_TOKEN', async () => {
    const wrong = remoteTo(server.port, { token: 'not-the-token' });
    try {
      const err = await rejection(wrong.ownKeys());
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.name).toBe('SignerUnavailableError');
      expect(err.message).toMatch(/M_UNKNOWN_TOKEN.*NOTARY_SIGNER_TOKEN/);
      expect(err.message).not.toContain('not-the-token');
    } finally {
      await wrong.close();
    }
  });

  test('a signer with another server name names NOTARY_SERVER_NAME', async () => {
    const other = remoteTo(server.port, { serverName: 'elsewhere.example' });
    try {
      const err = await rejection(other.ownKeys());
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.message).toMatch(/"notary.example".*"elsewhere.example".*NOTARY_SERVER_NAME/);
    } finally {
      await other.close();
    }
  });

  test('nothing listening names NOTARY_SIGNER_URL', async () => {
    const gone = await plainServer((_req, res) => res.end());
    await gone.stop();
    const nowhere = remoteTo(gone.port);
    try {
      const err = await rejection(nowhere.countersign(originResponseBytes()));
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.message).toMatch(/ECONNREFUSED.*NOTARY_SIGNER_URL/);
    } finally {
      await nowhere.close();
    }
  });

  test('a signer that does not answer in time', async () => {
    const silent = await plainServer(() => {
      /* never answers */
    });
    const slow = remoteTo(silent.port, { timeoutMs: 200 });
    try {
      // The silent server never answers: only the client's own 200 ms timeout can end this.
      const err = await rejection(slow.ownKeys());
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.message).toMatch(/did not answer within 200 ms/);
    } finally {
      await slow.close();
      await silent.stop();
    }
  });

  test('something that is not a signer (404, or not JSON)', async () => {
    const notSigner = await plainServer((req, res) => {
      if (req.url?.includes('own-keys')) res.writeHead(200).end('<html>hello</html>');
      else res.writeHead(404).end('not found');
    });
    const confused = remoteTo(notSigner.port);
    try {
      expect((await rejection(confused.ownKeys())).message).toMatch(/not JSON.*NOTARY_SIGNER_URL/);
      const err = await rejection(confused.countersign(originResponseBytes()));
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.message).toMatch(/HTTP 404.*NOTARY_SIGNER_URL/);
    } finally {
      await confused.close();
      await notSigner.stop();
    }
  });

  test('a 500 from the signer points at its log', async () => {
    const broken = await plainServer((_req, res) => res.writeHead(500).end('{"errcode":"M_UNKNOWN","error":"x"}'));
    const client = remoteTo(broken.port);
    try {
      const err = await rejection(client.countersign(originResponseBytes()));
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.message).toMatch(/HTTP 500 M_UNKNOWN.*signer's log/);
    } finally {
      await client.close();
      await broken.stop();
    }
  });

  test('an answer over the size cap is cut off, naming NOTARY_SIGNER_URL', async () => {
    // Chunked, so the size is known only by counting.
    const chatty = await plainServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      for (let i = 0; i < 8; i++) res.write(Buffer.alloc(512, 0x20));
      res.end();
    });
    const client = remoteTo(chatty.port, { maxResponseBytes: 1024 });
    try {
      const err = await rejection(client.ownKeys());
      expect(err).toBeInstanceOf(SignerUnavailableError);
      expect(err.message).toMatch(/sent more than 1024 bytes.*NOTARY_SIGNER_URL/);
    } finally {
      await client.close();
      await chatty.stop();
    }
  });

  test('a bad URL is refused at construction', () => {
    expect(() => remoteTo(1, { url: 'not a url' })).toThrow(/NOTARY_SIGNER_URL/);
    expect(() => remoteTo(1, { url: 'ftp://127.0.0.1/' })).toThrow(/http: or https:/);
    expect(() => remoteTo(1, { token: '' })).toThrow(/NOTARY_SIGNER_TOKEN/);
  });
});

test('a kept-alive socket the server closed is retried once on a new connection', async () => {
  // The server hangs up on the second request of each connection, as a server whose keep-alive
  // timeout fired just as the client reused the socket would.
  const perSocket = new WeakMap<Socket, number>();
  let connections = 0;
  const body = (await local.ownKeys()).bytes;
  const flaky = await plainServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    if (n === 1) connections++;
    if (n > 1) {
      req.socket.destroy();
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  });
  const client = remoteTo(flaky.port);
  try {
    expect((await client.ownKeys()).bytes.equals(body)).toBe(true);
    expect((await client.ownKeys()).bytes.equals(body)).toBe(true);
    expect(connections).toBe(2);
  } finally {
    await client.close();
    await flaky.stop();
  }
});
