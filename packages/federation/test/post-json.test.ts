/**
 * FederationClient.postJson: how the worker asks an upstream notary (an operator-configured URL).
 * The same guards as origin fetches: the address filter (also on what a DNS name resolves to),
 * certificates from the test CA for https, the time and size limits. Plain http is accepted for
 * these URLs only.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OriginFetchError } from '@matrix-notary/federation';
import { FORBIDDEN_ADDRESS, serveJson, useHarness, type Harness } from './fixtures';

let h!: Harness;
useHarness((harness) => (h = harness));

interface Received {
  method: string;
  url: string;
  host: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A plain HTTP server on `host` that answers with `handler` and records each request. */
async function plainServer(host: string, handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method ?? '',
        url: req.url ?? '',
        host: req.headers.host,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  h.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, received };
}

async function failure(p: Promise<unknown>): Promise<OriginFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(OriginFetchError);
  return err as OriginFetchError;
}

const BODY = Buffer.from('{"server_keys":{"origin.test":{}}}');

test('POSTs the JSON body over plain http to an allowed address, under a base path, and returns a 200 body', async () => {
  const server = await plainServer('127.0.0.40', serveJson('{"server_keys":[]}'));
  const res = await h.client().postJson(new URL(`http://127.0.0.40:${server.port}/base/_matrix/key/v2/query`), BODY);
  expect(res).toEqual({ statusCode: 200, body: Buffer.from('{"server_keys":[]}') });
  expect(server.received).toEqual([
    { method: 'POST', url: '/base/_matrix/key/v2/query', host: `127.0.0.40:${server.port}`, contentType: 'application/json', body: BODY.toString() },
  ]);
});

test('POSTs over https with the certificate checked against the trusted CAs', async () => {
  const origin = await h.origin('127.0.0.41', 0, { dns: ['upstream.test'] }, serveJson('{"ok":true}'));
  h.dns.set('upstream.test', [{ type: 'A', address: '127.0.0.41', ttl: 300 }]);
  const res = await h.client().postJson(new URL(`https://upstream.test:${origin.port}/_matrix/key/v2/query`), BODY);
  expect(res.body.toString()).toBe('{"ok":true}');
  expect(origin.requests[0]).toMatchObject({ method: 'POST', host: `upstream.test:${origin.port}`, sni: 'upstream.test' });
  // Another CA's view of the same server: the certificate is not trusted.
  const untrusting = h.client({ extraCaPem: undefined });
  expect((await failure(untrusting.postJson(new URL(`https://upstream.test:${origin.port}/_matrix/key/v2/query`), BODY))).reason).toBe('tls');
});

test('the address filter applies: a forbidden IP literal, or a name that resolves to one, is never connected to', async () => {
  const server = await plainServer(FORBIDDEN_ADDRESS, serveJson('{}'));
  const literal = await failure(h.client().postJson(new URL(`http://${FORBIDDEN_ADDRESS}:${server.port}/q`), BODY));
  expect(literal.reason).toBe('forbidden_address');
  h.dns.set('private-upstream.test', [{ type: 'A', address: FORBIDDEN_ADDRESS, ttl: 300 }]);
  const named = await failure(h.client().postJson(new URL(`http://private-upstream.test:${server.port}/q`), BODY));
  expect(named.reason).toBe('forbidden_address');
  expect(server.received).toEqual([]);
  // Listed by the operator, it is reached.
  const allowed = h.client({ allowedAddresses: [`${FORBIDDEN_ADDRESS}/32`] });
  expect((await allowed.postJson(new URL(`http://${FORBIDDEN_ADDRESS}:${server.port}/q`), BODY)).statusCode).toBe(200);
});

test('an answer over the size limit is refused, by Content-Length or while streaming', async () => {
  const big = 'x'.repeat(4096);
  const declared = await plainServer('127.0.0.42', serveJson(big));
  const streamed = await plainServer('127.0.0.43', (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write(big);
    res.end(big);
  });
  const client = h.client({ maxResponseBytes: 1024 });
  expect((await failure(client.postJson(new URL(`http://127.0.0.42:${declared.port}/q`), BODY))).reason).toBe('too_large');
  expect((await failure(client.postJson(new URL(`http://127.0.0.43:${streamed.port}/q`), BODY))).reason).toBe('too_large');
});

test('an upstream that never answers is cut off at NOTARY_ORIGIN_TIMEOUT_MS', async () => {
  const silent = await plainServer('127.0.0.44', () => undefined);
  const err = await failure(h.client({ totalTimeoutMs: 300 }).postJson(new URL(`http://127.0.0.44:${silent.port}/q`), BODY));
  expect(err.reason).toBe('timeout');
});

test('a status other than 200 comes back with an empty body; a caller abort ends the request', async () => {
  const server = await plainServer('127.0.0.45', serveJson('{"errcode":"M_UNKNOWN"}', 503));
  expect(await h.client().postJson(new URL(`http://127.0.0.45:${server.port}/q`), BODY)).toEqual({ statusCode: 503, body: Buffer.alloc(0) });
  const controller = new AbortController();
  controller.abort();
  expect((await failure(h.client().postJson(new URL(`http://127.0.0.45:${server.port}/q`), BODY, controller.signal))).reason).toBe('aborted');
});
